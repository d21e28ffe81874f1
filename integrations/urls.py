"""The integrations' URLs: Slack-style incoming hooks and each room's integrations page."""

from django.urls import path

from integrations import pages, views

app_name = "integrations"

urlpatterns = [
    path("hooks/<str:key>", views.hook_receive, name="hook"),
    path("chat/<slug:slug>/integrations/", pages.room_integrations, name="room"),
]
