"""Account pages under /accounts/ (namespace "accounts"). Django's auth views and
sign-up keep their global names (login, logout, signup, password_reset, ...) in
chatsite/urls.py, where Django and the templates expect them."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("settings/", views.account_settings, name="settings"),
    path("invitations/", views.invitations, name="invitations"),
]
