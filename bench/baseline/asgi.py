"""The baseline: the Channels tutorial's chat room, speaking just enough of the chat
protocol for the load generator.

`daphne bench.baseline.asgi:application` with DJANGO_SETTINGS_MODULE=bench.baseline.settings.
On connect: join the room's group and send `{"type": "hello"}`. On a frame: group_send
its body. Per recipient: `json.dumps` a `{"type": "message", "message": {...}}` frame.
No auth, no database, no seq, no ack. Plain HTTP answers 200 (a readiness probe).

With AUTHENTICATED (bench/baseline/settings.py) the socket stack is the
tutorial's `AuthMiddlewareStack`, and a connect without a logged-in session is closed:
the floor any authenticated Channels connect pays (session and user read, one thread
hop), with nothing of the project's own.
"""

import json
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline.settings")
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from bench.baseline.settings import AUTHENTICATED  # noqa: E402


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    async def connect(self) -> None:
        user = self.scope.get("user")
        if AUTHENTICATED and not (user and user.is_authenticated):
            await self.close()
            return
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()
        await self.send(text_data=json.dumps({"type": "hello"}))

    async def disconnect(self, close_code: int) -> None:
        if hasattr(self, "room_group_name"):
            await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = json.loads(text_data or "{}")
        await self.channel_layer.group_send(
            self.room_group_name,
            {"type": "chat.message", "body": data["body"], "client_id": data.get("client_id")},
        )

    async def chat_message(self, event: dict[str, Any]) -> None:
        await self.send(
            text_data=json.dumps(
                {
                    "type": "message",
                    "message": {"body": event["body"], "client_id": event["client_id"]},
                }
            )
        )


async def http_ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


_sockets = URLRouter([re_path(r"ws/chat/(?P<room_name>[-\w]+)/$", ChatConsumer.as_asgi())])
application = ProtocolTypeRouter(
    {
        "http": http_ok,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(_sockets) if AUTHENTICATED else _sockets
        ),
    }
)
