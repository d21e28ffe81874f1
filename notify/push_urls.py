"""Web Push URLs (placeholder: the push helper replaces this module)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
