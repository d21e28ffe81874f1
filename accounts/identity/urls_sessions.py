"""Identity URLs under /accounts/ (sessions): accounts/identity/urls.py gathers them."""

from django.urls import URLPattern, path

from accounts.identity import sessions_views

urlpatterns: list[URLPattern] = [
    path("sessions/", sessions_views.sessions_page, name="sessions"),
]
