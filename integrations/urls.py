"""The integrations' page URLs: each room's integrations page and the bots one owns.
(`POST /hooks/<key>` is an ASGI app routed before Django: integrations/http.py.)"""

from django.urls import path

from integrations import pages, pages_bots

app_name = "integrations"

urlpatterns = [
    path("chat/<slug:slug>/integrations/", pages.room_integrations, name="room"),
    path("settings/bots/", pages_bots.bot_settings, name="bots"),
]
