"""The chat WebSocket consumer. Protocol only: authorize, parse one frame, call one
service or selector, relay events. No ORM here.

One connection class for both chat endpoints: `/ws/chat/<slug>/` is ChatConsumer with
one room's stream, `/ws/chat/` the same class configured with `all_rooms=True`, with a
stream per joined room (docs/parsing.md). Delivery (seq order, gaps, the hub) is the
realtime package's; this package decides what the frames mean.
"""

import asyncio
import logging

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import events, selectors
from chat.consumers.base import public
from chat.consumers.commands import Commands, client_id_of, named_room
from chat.database import dbcalls
from chat.errors import ChatError
from chat.limits import policy
from chat.ops import observability
from chat.protocol import parsing
from chat.protocol.codes import LOST_ACCESS, CloseCode, ErrorCode
from chat.realtime import wire
from chat.realtime.connection import State
from chat.selectors import HistoryOut, NotifyPrefsOut, ProfileOut, RoomState

logger = logging.getLogger(__name__)

CLOSE_INTERNAL_ERROR = CloseCode.INTERNAL_ERROR
CLOSE_SERVICE_RESTART = CloseCode.SERVICE_RESTART
CLOSE_BAD_REQUEST = CloseCode.BAD_REQUEST
CLOSE_UNAUTHENTICATED = CloseCode.UNAUTHENTICATED
CLOSE_FORBIDDEN = CloseCode.FORBIDDEN
CLOSE_ROOM_NOT_FOUND = CloseCode.ROOM_NOT_FOUND
CLOSE_TOO_MANY = CloseCode.TOO_MANY

_INTERNAL_ERROR = ChatError(ErrorCode.INTERNAL_ERROR, "The server could not handle that frame.")


# --- reads composed for one database call each (on the read threads) ---------------


def _rooms_if_allowed(*, user_id: int) -> list[RoomState] | None:
    """The user's joined rooms, or None when the account may not chat at all."""
    if not selectors.account_allowed(user_id=user_id):
        return None
    return selectors.user_rooms(user_id=user_id)


def _rooms_and_backlogs(
    *, user_id: int, after: dict[str, int], limit: int
) -> tuple[list[RoomState], dict[int, HistoryOut], ProfileOut | None, NotifyPrefsOut]:
    """Read after joining the hub: the rooms' state (their last_seq starts the live
    streams), the resume backlogs (one query for all rooms), the user's profile and
    notification preferences."""
    rooms = selectors.user_rooms(user_id=user_id)
    wanted = {room["id"]: after[room["slug"]] for room in rooms if room["slug"] in after}
    backlogs = selectors.message_backlogs(after=wanted, limit=limit, reader_id=user_id)
    return rooms, backlogs, selectors.user_profile(user_id), selectors.notify_prefs(user_id)


def _history_and_profile(
    *, room_id: int, after: int | None, limit: int, user_id: int
) -> tuple[HistoryOut, ProfileOut | None]:
    """Read after joining the hub: the room's history (or resume backlog) and the
    user's profile for hello."""
    history = selectors.message_history(
        room_id=room_id, after=after, limit=limit, reader_id=user_id
    )
    return history, selectors.user_profile(user_id)


class ChatConsumer(Commands, AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One WebSocket connection: one room (`/ws/chat/<slug>/`) or all the user's rooms
    (`all_rooms=True`, `/ws/chat/`). Delivers each room's messages in seq order, each
    once. Room events reach it through the process's hub (chat/realtime/), not a
    channel of its own, so it asks channels for no per-connection channel."""

    channel_layer_alias = None

    async def dispatch(self, message: dict[str, object]) -> None:
        # channels' dispatch first runs close_old_connections in a worker thread for
        # every frame; each database call here (chat/database/dbcalls.py) already does that around
        # itself, so that extra thread hop per frame is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- opening ---------------------------------------------------------------------

    async def connect(self) -> None:
        user = self.scope["user"]
        if self.runtime.shutting_down:
            await self._refuse(CLOSE_SERVICE_RESTART)
            return
        guard, self.ip = policy.current(), policy.client_ip(self.scope)
        if not await guard.attempt_allowed(self.ip):
            await self._refuse(CLOSE_TOO_MANY)
            return
        if not user.is_authenticated:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        self.user_id, self.username = user.pk, user.get_username()
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        query = self.scope.get("query_string", b"")
        try:
            after_rooms = parsing.parse_after_rooms(query) if self.all_rooms else {}
            after = None if self.all_rooms else parsing.parse_after(query)
        except ChatError:
            await self._refuse(CLOSE_BAD_REQUEST)
            return
        rooms: list[RoomState] | None = None
        room: selectors.RoomOut | None = None
        if self.all_rooms:
            rooms = await dbcalls.read(_rooms_if_allowed, user_id=user.pk)
            if rooms is None:
                await self._refuse(CLOSE_FORBIDDEN)
                return
        else:
            slug: str = self.scope["url_route"]["kwargs"]["slug"]
            room, access = await dbcalls.read(
                selectors.room_with_access, slug=slug, user_id=user.pk
            )
            if room is None:
                await self._refuse(CLOSE_ROOM_NOT_FOUND)
                return
            if not access["read"]:
                await self._refuse(CLOSE_FORBIDDEN)
                return
        self._slot = await guard.admit(user_id=user.pk, ip=self.ip)  # given back on disconnect
        if self._slot is None:
            await self._refuse(CLOSE_TOO_MANY)
            return
        try:
            if rooms is not None:
                await self._open_all(rooms, after_rooms)
            elif room is not None:
                await self._open_one(room, after)
        except BaseException:
            # Channels never dispatches websocket.disconnect to a consumer whose connect
            # raised, so its cap slot and hub membership would outlive it.
            await self.disconnect(CLOSE_INTERNAL_ERROR)
            raise

    async def _register(self) -> None:
        self.last_frame_at = asyncio.get_running_loop().time()
        self.runtime.registry.add(self)

    async def _open_one(self, room: selectors.RoomOut, after: int | None) -> None:
        await self._register()
        stream = self._add_stream(room["id"], room["slug"], counted=True)
        # Join before reading history: anything committed from here on arrives as an
        # event, anything earlier is in the history; the seq check removes the overlap.
        hub = await self.runtime.hub()
        await hub.join(self, [room["id"]], online={room["id"]: room["slug"]})
        limit = settings.CHAT_HISTORY_LIMIT if after is None else settings.CHAT_RESUME_LIMIT
        history, profile = await dbcalls.read(
            _history_and_profile, room_id=room["id"], after=after, limit=limit, user_id=self.user_id
        )
        messages = history["messages"]
        if messages:
            delivered = messages[-1]["seq"]
        elif after is not None:
            delivered = min(after, history["last_seq"])
        else:
            delivered = history["last_seq"]
        online, online_count = await hub.online(room["id"], settings.CHAT_HELLO_ONLINE_LIMIT)
        hello: dict[str, object] = {
            "type": "hello",
            "room": {
                "id": room["id"],
                "slug": room["slug"],
                "name": room["name"],
                "topic": room["topic"],
            },
            "user": profile or {"username": self.username},
            "online": online,
            "online_count": online_count,
            "history": messages,
        }
        if after is not None:
            hello["resumed"] = {"after": after, "complete": history["complete"]}
        await self._accept(room["slug"])
        await self._send_text(events.encode(hello))
        await self.start_stream(stream, delivered)
        await self._opened()

    async def _open_all(self, rooms: list[RoomState], after: dict[str, int]) -> None:
        await self._register()
        for room in rooms:
            self._add_stream(room["id"], room["slug"], counted=True)
        hub = await self.runtime.hub()
        await hub.join(
            self, [room["id"] for room in rooms], online={r["id"]: r["slug"] for r in rooms}
        )
        # Read again now that events flow: the streams start after these last seqs.
        rooms, backlogs, profile, prefs = await dbcalls.read(
            _rooms_and_backlogs,
            user_id=self.user_id,
            after=after,
            limit=settings.CHAT_RESUME_LIMIT,
        )
        await self._reconcile(rooms)
        entries = []
        for room in rooms:
            entry = public(room)
            backlog = backlogs.get(room["id"])
            if backlog is not None:
                entry["resumed"] = {"after": after[room["slug"]], "complete": backlog["complete"]}
            entries.append(entry)
        await self._accept("*")
        user = profile or {"username": self.username}
        hello = {"type": "hello", "user": user, "rooms": entries, "notify": prefs}
        await self._send_text(events.encode(hello))
        for room in rooms:
            stream = self.streams[room["id"]]
            backlog = backlogs.get(room["id"])
            if backlog is None:
                await self.start_stream(stream, room["last_seq"])
                continue
            messages = backlog["messages"]
            if backlog["complete"]:
                start = min(after[room["slug"]], backlog["last_seq"])
            else:  # the newest CHAT_RESUME_LIMIT: the client pages back the rest
                start = messages[0]["seq"] - 1
            frames = [(m["seq"], events.message_frame(m)) for m in messages]
            await self.start_stream(stream, start, frames, backlog["last_seq"])
        await self._opened()

    async def _reconcile(self, rooms: list[RoomState]) -> None:
        # Rooms joined or left between the two reads (another tab, staff) follow here.
        hub = await self.runtime.hub()
        now = {room["id"]: room["slug"] for room in rooms}
        gone = [room_id for room_id in self.streams if room_id not in now]
        new = {room_id: slug for room_id, slug in now.items() if room_id not in self.streams}
        if gone:
            await hub.leave(self, gone)
            for room_id in gone:
                self._drop_stream(room_id)
        if new:
            for room_id, slug in new.items():
                self._add_stream(room_id, slug, counted=True)
            await hub.join(self, list(new), online=new)

    async def _accept(self, room: str) -> None:
        await self.accept()
        self.raw_send = wire.raw_send_for(self.scope)
        observability.connection_opened(self, user=self.username, room=room, ip=self.ip)

    async def _opened(self) -> None:
        await self.opened()
        held, self._held_membership = self._held_membership, []
        for change in held:
            await self.membership_changed(*change)

    # --- closing ---------------------------------------------------------------------

    async def disconnect(self, code: int) -> None:
        observability.connection_closed(self, code)
        self.state = State.CLOSED
        slot, self._slot = self._slot, None
        if slot is not None:
            await slot.release()
        registry = self.runtime.registry
        if self in registry.connections:
            try:
                hub = await self.runtime.hub()
                await hub.leave(self, registry.rooms_of(self))
            finally:
                registry.remove(self)

    async def _send_text(self, text: str) -> None:
        # This socket's own frames (acks above all: one per send) take the fan-out's
        # direct write when it can: through ASGI each passed channels, daphne, autobahn
        # and Twisted's buffer (an epoll registration, a send on the next loop turn):
        # ~16 % of the event loop in the write-heavy profile. The raw writer refuses
        # whenever bytes are already queued, so frames keep their order.
        raw = self.raw_send if self.state is State.OPEN else None
        if raw is not None and raw(wire.text_frame(text)):
            return
        await self.send(text_data=text)

    async def _close(self, code: int) -> None:
        await self.close(code=code)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # After the close frame nothing may be sent (daphne raises on a closing socket).
        if self.state < State.CLOSING:
            self.state = State.CLOSING
        if isinstance(code, int) and not isinstance(code, bool):
            code = int(code)  # a CloseCode member goes to the server as a plain int
        await super().close(code=code, reason=reason)

    async def _refuse(self, code: int) -> None:
        # Accept first: a close before accept becomes an HTTP 403 that browsers report
        # without the code, and the client must be able to tell 4401 from 4404.
        await self.accept()
        observability.connection_refused(self.scope, code, policy.client_ip(self.scope))
        await self.close(code=code)

    # --- client frames ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        async with self.frame_lock:
            if self.state != State.OPEN:
                return  # never acknowledged, so the client resends it elsewhere
            command: parsing.Command | None = None
            received_at = observability.frame_received()
            self.last_frame_at = asyncio.get_running_loop().time()
            try:
                policy.frame_check(text_data, bytes_data)
                if text_data is None:
                    raise ChatError(ErrorCode.BINARY_FRAME, "Only JSON text frames are accepted.")
                command = parsing.parse_frame(text_data, all_rooms=self.all_rooms)
                await self._handle(command)
                observability.frame_handled(command, received_at)
            except ChatError as error:
                observability.error_sent(self, error.code)
                await self._send_error(error, command, text_data)
                if error.code in LOST_ACCESS and not self.all_rooms:
                    await self.close(code=CLOSE_FORBIDDEN)
                elif isinstance(error, policy.RateLimited) and error.flooding:
                    await self.close(code=CLOSE_TOO_MANY)
            except Exception:
                logger.exception("chat frame failed user=%s", self.username)
                observability.error_sent(self, _INTERNAL_ERROR.code)
                await self._send_error(_INTERNAL_ERROR, command, text_data)

    async def _send_error(
        self, error: ChatError, command: parsing.Command | None, text: str | None
    ) -> None:
        frame: dict[str, object] = dict(error.as_frame(client_id_of(command)))
        if self.all_rooms:
            room = getattr(command, "room", None) if command is not None else named_room(text)
            if isinstance(room, str):
                frame["room"] = room
        await self._send_text(events.encode(frame))
