"""Connects the integrations app to chat's signals (chat never imports integrations)."""
