"""Identity URLs under /accounts/ (mfa): accounts/identity/urls.py gathers them."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
