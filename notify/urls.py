"""Notification URLs: the settings page (notify/views.py) and what Web Push needs
(notify/push_urls.py: the subscription API, the service worker, the web app manifest)."""

from django.urls import include, path

from notify import views

urlpatterns = [
    path("notifications/", views.settings_page, name="notify-settings"),
    path("", include("notify.push_urls")),
]
