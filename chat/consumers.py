"""WebSocket adapters. Protocol only: authorize, parse one frame, call one service or
selector (one database_sync_to_async call per frame), relay events. No ORM here."""

import asyncio
import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import (
    delivery,
    events,
    limits,
    observability,
    presence,
    protocol,
    selectors,
    services,
    wire,
)
from chat.errors import ChatError

logger = logging.getLogger(__name__)

CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_ROOM_NOT_FOUND = 4404
CLOSE_TOO_MANY = limits.CLOSE_TOO_MANY

CATCH_UP_CHUNK = 100  # messages read per query when filling a gap
MAX_EARLY_EVENTS = 1000  # events held while hello is prepared; past it, gap filling

# Errors that mean the user may no longer read the room: the socket closes after them.
LOST_ACCESS = frozenset({"forbidden", "banned"})

_INTERNAL_ERROR = ChatError("internal_error", "The server could not handle that frame.")


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One connection to one room. Delivers the room's messages in seq order, each once.

    Room events reach it through the process's delivery hub (chat/delivery.py), not a
    channel of its own, so it asks channels for no per-connection channel.
    """

    channel_layer_alias = None
    room: selectors.RoomOut
    room_id: int
    # Highest seq this connection has delivered (or knows to be deleted); events at or
    # below it are duplicates, events above last_seq + 1 reveal a gap.
    last_seq: int

    def __init__(self) -> None:
        super().__init__()
        self._deliver_lock = asyncio.Lock()  # one writer of the message stream at a time
        self._frame_lock = asyncio.Lock()  # held while a client frame is being handled
        self.last_seq = 0
        self.username = ""
        self.last_frame_at = 0.0
        self._last_typing_at = float("-inf")
        self._closing = False
        self._joined = False
        # Events that beat the hello: (seq, frame) of messages, (None, frame) of others.
        self._early: list[tuple[int | None, str]] | None = []
        self._in_order: set[asyncio.Task[None]] = set()
        self._slot: limits.Slot | None = None  # this connection's share of the caps
        self._raw_send: wire.RawSend | None = None  # writes the hub's pre-built frames

    async def dispatch(self, message: dict[str, object]) -> None:
        # channels' dispatch first runs close_old_connections in a worker thread for
        # every frame; each database_sync_to_async call here already does that around
        # itself, so that extra thread hop per frame is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope["user"]
        if delivery.current().shutting_down:
            await self._refuse(CLOSE_SERVICE_RESTART)
            return
        guard, ip = limits.current(), limits.client_ip(self.scope)
        if not await guard.attempt_allowed(ip):
            await self._refuse(CLOSE_TOO_MANY)
            return
        if not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            after = protocol.parse_after(self.scope.get("query_string", b""))
        except ChatError:
            await self._refuse(CLOSE_BAD_REQUEST)
            return
        slug: str = self.scope["url_route"]["kwargs"]["slug"]
        room, access = await database_sync_to_async(selectors.room_with_access)(
            slug=slug, user_id=user.pk
        )
        if room is None:
            await self._refuse(CLOSE_ROOM_NOT_FOUND)
            return
        if not access["read"]:
            await self._refuse(CLOSE_FORBIDDEN)
            return
        self._slot = await guard.admit(user_id=user.pk, ip=ip)  # given back on disconnect
        if self._slot is None:
            await self._refuse(CLOSE_TOO_MANY)
            return
        try:
            await self._open(room, after, ip)
        except BaseException:
            # Channels never dispatches websocket.disconnect to a consumer whose connect
            # raised, so its cap slot and hub membership would outlive it.
            await self.disconnect(CLOSE_INTERNAL_ERROR)
            raise

    async def _open(self, room: selectors.RoomOut, after: int | None, ip: str | None) -> None:
        user = self.scope["user"]
        self.room, self.room_id = room, room["id"]
        self.username = user.get_username()
        self.last_frame_at = asyncio.get_running_loop().time()
        # Join before reading history: anything committed from here on arrives as an
        # event, anything earlier is in the history; the seq check removes the overlap.
        hub = delivery.current()
        await hub.join(self)
        self._joined = True
        limit = settings.CHAT_HISTORY_LIMIT if after is None else settings.CHAT_RESUME_LIMIT
        history = await database_sync_to_async(selectors.message_history)(
            room_id=room["id"], after=after, limit=limit
        )
        messages = history["messages"]
        if messages:
            self.last_seq = messages[-1]["seq"]
        elif after is not None:
            self.last_seq = min(after, history["last_seq"])
        else:
            self.last_seq = history["last_seq"]
        online, online_count = await hub.online(room["id"], settings.CHAT_HELLO_ONLINE_LIMIT)
        hello: dict[str, object] = {
            "type": "hello",
            "room": {
                "id": room["id"],
                "slug": room["slug"],
                "name": room["name"],
                "topic": room["topic"],
            },
            "user": {"username": self.username},
            "online": online,
            "online_count": online_count,
            "history": messages,
        }
        if after is not None:
            hello["resumed"] = {"after": after, "complete": history["complete"]}
        await self.accept()
        self._raw_send = wire.raw_send_for(self.scope)
        observability.connection_opened(self, user=self.username, room=room["slug"], ip=ip)
        await self.send(text_data=events.encode(hello))
        early, self._early = self._early or [], None
        for seq, frame in early:
            await (self.push(frame) if seq is None else self.deliver(seq, frame))

    async def disconnect(self, code: int) -> None:
        observability.connection_closed(self, code)
        self._closing = True
        slot, self._slot = self._slot, None
        if slot is not None:
            await slot.release()
        if self._joined:
            await delivery.current().leave(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        async with self._frame_lock:
            if self._closing:
                return  # never acknowledged, so the client resends it elsewhere
            command: protocol.Command | None = None
            received_at = observability.frame_received()
            self.last_frame_at = asyncio.get_running_loop().time()
            try:
                limits.frame_check(text_data, bytes_data)
                if text_data is None:
                    raise ChatError("binary_frame", "Only JSON text frames are accepted.")
                command = protocol.parse_frame(text_data)
                await self._handle(command)
                observability.frame_handled(command, received_at)
            except ChatError as error:
                observability.error_sent(self, error.code)
                await self.send(text_data=events.encode(error.as_frame(_client_id(command))))
                if error.code in LOST_ACCESS:
                    await self.close(code=CLOSE_FORBIDDEN)
                elif isinstance(error, limits.RateLimited) and error.flooding:
                    await self.close(code=CLOSE_TOO_MANY)
            except Exception:
                logger.exception("chat frame failed room=%s", self.room["slug"])
                observability.error_sent(self, _INTERNAL_ERROR.code)
                frame = _INTERNAL_ERROR.as_frame(_client_id(command))
                await self.send(text_data=events.encode(frame))

    async def _handle(self, command: protocol.Command) -> None:
        match command:
            case protocol.SendMessage(body=body, client_id=client_id):
                await limits.current().message_check(self.scope["user"].pk)
                message = await database_sync_to_async(services.message_post)(
                    room_id=self.room_id,
                    author=self.scope["user"],
                    body=body,
                    client_id=client_id,
                )
                frame = {"type": "ack", "client_id": client_id, "message": message}
            case protocol.FetchHistory(before=before, limit=limit):
                messages = await database_sync_to_async(services.history_page)(
                    room_id=self.room_id, user=self.scope["user"], before=before, limit=limit
                )
                frame = {"type": "history", "before": before, "messages": messages}
            case protocol.EditMessage(id=message_id, body=body):
                # Answered by the message.updated broadcast (or an error).
                await database_sync_to_async(services.message_edit)(
                    message_id=message_id, user=self.scope["user"], body=body
                )
                return
            case protocol.DeleteMessage(id=message_id):
                await database_sync_to_async(services.message_delete)(
                    message_id=message_id, user=self.scope["user"]
                )
                return
            case protocol.Typing():
                # Unanswered; a client typing faster than the interval is simply thinned.
                now = asyncio.get_running_loop().time()
                if now - self._last_typing_at >= settings.CHAT_TYPING_MIN_INTERVAL_SECONDS:
                    self._last_typing_at = now
                    await self._announce_typing()
                return
        await self.send(text_data=events.encode(frame))

    async def _announce_typing(self) -> None:
        # Never answered, not even on failure: a reply would be taken for the answer to
        # the client's previous send. Someone who may not write is not shown typing.
        try:
            access = await database_sync_to_async(selectors.access_for)(
                room_id=self.room_id, user_id=self.scope["user"].pk
            )
            if access["write"]:
                await presence.typing_announce(room_id=self.room_id, username=self.username)
        except Exception:
            logger.exception("typing announce failed room=%s", self.room["slug"])

    async def deliver(self, seq: int, frame: str, wire_frame: bytes | None = None) -> None:
        """Called by the hub for each room event, in the order the layer delivered them.
        `wire_frame` is `frame` already framed for the socket (chat/wire.py), if built."""
        if self._early is not None:
            if len(self._early) < MAX_EARLY_EVENTS:
                self._early.append((seq, frame))
            return
        if self._closing or seq <= self.last_seq:
            return
        if seq == self.last_seq + 1 and not self._deliver_lock.locked() and not self._in_order:
            self.last_seq = seq  # the common case: no gap, nothing queued
            await self._send_shared(frame, wire_frame)
            return
        # A gap to fill from the database: queue behind the lock (FIFO), off the hub's path.
        task = asyncio.get_running_loop().create_task(self._deliver_in_order(seq, frame))
        self._in_order.add(task)
        task.add_done_callback(self._in_order.discard)

    async def push(self, frame: str, wire_frame: bytes | None = None) -> None:
        """Called by the hub for frames outside the message stream (presence, typing)."""
        if self._early is not None:
            if len(self._early) < MAX_EARLY_EVENTS:
                self._early.append((None, frame))
            return
        if not self._closing:
            await self._send_shared(frame, wire_frame)

    async def _send_shared(self, frame: str, wire_frame: bytes | None) -> None:
        # A frame many sockets get: written as pre-built bytes where the server offers
        # that (daphne, see chatsite/lifecycle.py), else sent through ASGI.
        if wire_frame is None or self._raw_send is None or not self._raw_send(wire_frame):
            await self.send(text_data=frame)

    async def _deliver_in_order(self, seq: int, frame: str) -> None:
        async with self._deliver_lock:
            if self._closing or seq <= self.last_seq:
                return
            if seq > self.last_seq + 1:
                await self._fill(up_to=seq - 1)
            self.last_seq = seq
            await self.send(text_data=frame)

    async def catch_up(self, up_to: int) -> None:
        """Deliver every saved message up to seq `up_to` this connection has not had."""
        async with self._deliver_lock:
            if up_to > self.last_seq and not self._closing and self._early is None:
                await self._fill(up_to=up_to)

    async def _fill(self, *, up_to: int) -> None:
        # Seqs commit in order, so every message up to a committed seq is readable now;
        # one that is not found was deleted and is skipped.
        while self.last_seq < up_to:
            missing = await database_sync_to_async(selectors.message_list)(
                room_id=self.room_id,
                after=self.last_seq,
                before=up_to + 1,
                limit=CATCH_UP_CHUNK,
            )
            for message in missing:
                await self.send(text_data=events.message_frame(message))
                self.last_seq = message["seq"]
            if len(missing) < CATCH_UP_CHUNK:
                self.last_seq = up_to

    async def shut_down(self, code: int) -> None:
        """Close once the frame being handled (if any) is saved and answered."""
        async with self._frame_lock:
            await self.close(code=code)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # After the close frame nothing may be sent (daphne raises on a closing socket).
        self._closing = True
        await super().close(code=code, reason=reason)

    async def _refuse(self, code: int) -> None:
        # Accept first: a close before accept becomes an HTTP 403 that browsers report
        # without the code, and the client must be able to tell 4401 from 4404.
        await self.accept()
        observability.connection_refused(self.scope, code, limits.client_ip(self.scope))
        await self.close(code=code)


def _client_id(command: protocol.Command | None) -> str | None:
    return command.client_id if isinstance(command, protocol.SendMessage) else None


class EchoConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """Diagnostic endpoint: returns every frame exactly as it was sent."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send(text_data=text_data)
        elif bytes_data is not None:
            await self.send(bytes_data=bytes_data)
