"""WebSocket URL routes (wrapped by origin validation and sessions in asgi.py)."""

from django.urls import path

from chat import consumers

websocket_urlpatterns = [
    path("ws/chat/", consumers.ChatConsumer.as_asgi(all_rooms=True)),
    path("ws/chat/<slug:slug>/", consumers.ChatConsumer.as_asgi()),
    path("ws/echo/", consumers.EchoConsumer.as_asgi()),
]
