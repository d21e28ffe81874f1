"""WebSocket adapters. Protocol only: authorize, parse one frame, call one service or
selector (one database_sync_to_async call per frame), relay events. No ORM here."""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from chat import events, protocol, selectors, services
from chat.errors import ChatError

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_ROOM_NOT_FOUND = 4404

_INTERNAL_ERROR = ChatError("internal_error", "The server could not handle that frame.")


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One connection to one room. Delivers the room's messages in seq order, each once."""

    room: selectors.RoomOut
    group: str
    # Highest seq this connection has delivered; events at or below it are duplicates.
    last_seq: int

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        slug: str = self.scope["url_route"]["kwargs"]["slug"]
        room = await database_sync_to_async(selectors.room_get)(slug=slug)
        if room is None:
            await self._refuse(CLOSE_ROOM_NOT_FOUND)
            return
        self.room = room
        self.group = events.room_group(room["id"])
        # Join before reading history: anything committed from here on arrives as an
        # event, anything earlier is in the history; the seq check removes the overlap.
        await self.channel_layer.group_add(self.group, self.channel_name)
        history = await database_sync_to_async(selectors.message_list)(room_id=room["id"])
        self.last_seq = history[-1]["seq"] if history else 0
        await self.accept()
        await self.send(
            text_data=events.encode(
                {
                    "type": "hello",
                    "room": {"slug": room["slug"], "name": room["name"], "topic": room["topic"]},
                    "user": {"username": user.get_username()},
                    "history": history,
                }
            )
        )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            if text_data is None:
                raise ChatError("binary_frame", "Only JSON text frames are accepted.")
            command = protocol.parse_frame(text_data)
            await self._handle(command)
        except ChatError as error:
            await self.send(text_data=events.encode(error.as_frame()))
        except Exception:
            logger.exception("chat frame failed room=%s", self.room["slug"])
            await self.send(text_data=events.encode(_INTERNAL_ERROR.as_frame()))

    async def _handle(self, command: protocol.Command) -> None:
        message = await database_sync_to_async(services.message_post)(
            room_id=self.room["id"],
            author=self.scope["user"],
            body=command.body,
            client_id=command.client_id,
        )
        await self.send(
            text_data=events.encode(
                {"type": "ack", "client_id": command.client_id, "message": message}
            )
        )

    async def chat_message(self, event: events.MessageEvent) -> None:
        seq = event["seq"]
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            await self._fill_gap(up_to=seq)
            if seq <= self.last_seq:
                return
        await self.send(text_data=event["frame"])
        self.last_seq = seq

    async def _fill_gap(self, *, up_to: int) -> None:
        # seqs commit in order, so everything below a delivered seq is already saved.
        missing = await database_sync_to_async(selectors.message_list)(
            room_id=self.room["id"], after=self.last_seq, limit=up_to - self.last_seq - 1
        )
        for message in missing:
            await self.send(text_data=events.message_frame(message))
            self.last_seq = message["seq"]

    async def _refuse(self, code: int) -> None:
        # Accept first: a close before accept becomes an HTTP 403 that browsers report
        # without the code, and the client must be able to tell 4401 from 4404.
        await self.accept()
        await self.close(code=code)


class EchoConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """Diagnostic endpoint: returns every frame exactly as it was sent."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send(text_data=text_data)
        elif bytes_data is not None:
            await self.send(bytes_data=bytes_data)
