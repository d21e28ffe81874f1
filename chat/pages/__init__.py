"""The HTML pages (Django views): thin, they read through selectors and write through
services."""
