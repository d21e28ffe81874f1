"""The integrations' page URLs: each room's integrations page. (`POST /hooks/<key>` is an
ASGI app routed before Django: integrations/http.py.)"""

from django.urls import path

from integrations import pages

app_name = "integrations"

urlpatterns = [
    path("chat/<slug:slug>/integrations/", pages.room_integrations, name="room"),
]
