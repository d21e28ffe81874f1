"""The slash commands' URL (included by chatsite/urls.py)."""

from django.urls import path

from integrations.command_views import command_respond

urlpatterns = [
    path("commands/respond/<str:secret>", command_respond, name="command-respond"),
]
