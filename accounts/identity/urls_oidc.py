"""Identity URLs under /accounts/ (oidc): accounts/identity/urls.py gathers them."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
