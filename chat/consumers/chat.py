"""The chat WebSocket consumer: channels' adapter for one socket. Protocol only:
authorize, parse one frame, run its handler, send the answer. No ORM here.

One class for both chat endpoints: `/ws/chat/<slug>/` is ChatConsumer with one room's
stream, `/ws/chat/` the same class with `all_rooms=True` and a stream per joined room
(docs/protocol.md). It owns its collaborators rather than inheriting them: the
connection state (state.py) with the realtime Connection inside, opening and closing
(opening.py), room changes (rooms.py) and the table of command handlers (handlers.py).
"""

import asyncio
import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer

from chat.consumers import handlers
from chat.consumers.opening import Opening
from chat.consumers.rooms import RoomChanges
from chat.consumers.state import ConnectionState
from chat.errors import ChatError
from chat.limits import policy
from chat.ops import observability
from chat.protocol import parsing
from chat.protocol.codes import LOST_ACCESS, CloseCode, ErrorCode
from chat.realtime import wire
from chat.realtime.connection import Connection, State

logger = logging.getLogger(__name__)


_INTERNAL_ERROR = ChatError(ErrorCode.INTERNAL_ERROR, "The server could not handle that frame.")


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One WebSocket connection: one room (`/ws/chat/<slug>/`) or all the user's rooms
    (`all_rooms=True`, `/ws/chat/`). Delivers each room's messages in seq order, each
    once. Room events reach it through the process's hub (chat/realtime/), not a
    channel of its own, so it asks channels for no per-connection channel."""

    channel_layer_alias = None

    def __init__(self, *, all_rooms: bool = False) -> None:
        super().__init__()
        # The realtime side sends and closes through channels' ASGI methods, given here;
        # it calls nothing else of this class but the reaction to room joins and leaves.
        self.conn = Connection(
            asgi_send=self.send,
            asgi_close=self.close,
            all_rooms=all_rooms,
            membership_changed=self._membership_changed,
        )
        self.state = ConnectionState(self.conn)
        self.rooms = RoomChanges(self.state)
        self.opening = Opening(self.state, self._accept)

    async def dispatch(self, message: dict[str, object]) -> None:
        # channels' dispatch first runs close_old_connections in a worker thread for
        # every frame; each database call here (chat/database/dbcalls.py) already does
        # that around itself, so that extra thread hop per frame is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- opening and closing -----------------------------------------------------------

    async def connect(self) -> None:
        code = await self.opening.open(self.scope)
        if code is not None:
            await self._refuse(code)

    async def _accept(self, room: str) -> None:
        await self.accept()
        self.conn.raw_send = wire.raw_send_for(self.scope)
        observability.connection_opened(
            self.conn, user=self.conn.username, room=room, ip=self.state.ip
        )

    async def _refuse(self, code: int) -> None:
        # Accept first: a close before accept becomes an HTTP 403 that browsers report
        # without the code, and the client must be able to tell 4401 from 4404.
        await self.accept()
        observability.connection_refused(self.scope, code, policy.client_ip(self.scope))
        await self.conn.close(code)

    async def disconnect(self, code: int) -> None:
        await self.opening.closed(code)

    async def _membership_changed(self, room_id: int, slug: str, action: str, reason: str) -> None:
        await self.rooms.membership_changed(room_id, slug, action, reason)

    # --- client frames -----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        conn = self.conn
        async with conn.frame_lock:
            if conn.state != State.OPEN:
                return  # never acknowledged, so the client resends it elsewhere
            command: parsing.Command | None = None
            received_at = observability.frame_received()
            conn.last_frame_at = asyncio.get_running_loop().time()
            try:
                policy.frame_check(text_data, bytes_data)
                if text_data is None:
                    raise ChatError(ErrorCode.BINARY_FRAME, "Only JSON text frames are accepted.")
                command = parsing.parse_frame(text_data, all_rooms=conn.all_rooms)
                answer = await handlers.handle(self.state, self.rooms, command)
                if answer is not None:
                    if conn.all_rooms:
                        room = getattr(command, "room", None)
                        answer = {"type": answer["type"], "room": room, **answer}
                    await self.state.send(answer)
                observability.frame_handled(command, received_at)
            except ChatError as error:
                observability.error_sent(conn, error.code)
                await self._send_error(error, command, text_data)
                if error.code in LOST_ACCESS and not conn.all_rooms:
                    await conn.close(CloseCode.FORBIDDEN)
                elif isinstance(error, policy.RateLimited) and error.flooding:
                    await conn.close(CloseCode.TOO_MANY)
            except Exception:
                logger.exception("chat frame failed user=%s", conn.username)
                observability.error_sent(conn, _INTERNAL_ERROR.code)
                await self._send_error(_INTERNAL_ERROR, command, text_data)

    async def _send_error(
        self, error: ChatError, command: parsing.Command | None, text: str | None
    ) -> None:
        frame: dict[str, object] = dict(error.as_frame(client_id_of(command)))
        if self.conn.all_rooms:
            room = getattr(command, "room", None) if command is not None else named_room(text)
            if isinstance(room, str):
                frame["room"] = room
        await self.state.send(frame)


def client_id_of(command: parsing.Command | None) -> str | None:
    return command.client_id if isinstance(command, parsing.SendMessage) else None


def named_room(text: str | None) -> str | None:
    """The room a frame that could not be parsed names, for its error (best effort)."""
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    room = data.get("room") if isinstance(data, dict) else None
    return room if isinstance(room, str) and len(room) <= parsing.MAX_SLUG_CHARS else None
