"""Identity URLs under /accounts/ (sessions): accounts/identity/urls.py gathers them."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
