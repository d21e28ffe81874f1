"""WebSocket adapters. Protocol only: authorize, parse one frame, call one service or
selector (one database_sync_to_async call per frame), relay events. No ORM here.

One connection class for both chat endpoints: `/ws/chat/<slug>/` is ChatConsumer with
one room's stream, `/ws/chat/` the same class configured with `all_rooms=True`, with a
stream per joined room (docs/protocol.md). Delivery (seq order, gaps, the hub) is the
realtime package's; this module decides what the frames mean.
"""

import asyncio
import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from chat import (
    events,
    limits,
    observability,
    presence,
    protocol,
    realtime,
    selectors,
    services,
    wire,
)
from chat.errors import ChatError
from chat.realtime import reads
from chat.realtime.connection import CloseCode, Connection, State, Stream
from chat.selectors import HistoryOut, ProfileOut, RoomState

logger = logging.getLogger(__name__)

CLOSE_INTERNAL_ERROR = CloseCode.INTERNAL_ERROR
CLOSE_SERVICE_RESTART = CloseCode.SERVICE_RESTART
CLOSE_BAD_REQUEST = CloseCode.BAD_REQUEST
CLOSE_UNAUTHENTICATED = CloseCode.UNAUTHENTICATED
CLOSE_FORBIDDEN = CloseCode.FORBIDDEN
CLOSE_ROOM_NOT_FOUND = CloseCode.ROOM_NOT_FOUND
CLOSE_TOO_MANY = limits.CLOSE_TOO_MANY

# Errors that mean the user may no longer read the room: on the per-room endpoint the
# socket closes after them (on /ws/chat/ only that room is lost, and room.left says so).
LOST_ACCESS = frozenset({"forbidden", "banned"})

_INTERNAL_ERROR = ChatError("internal_error", "The server could not handle that frame.")
_NOT_JOINED = ChatError("not_joined", "You have not joined this room.")


def _public(room: RoomState) -> dict[str, object]:
    """A hello.rooms / room.joined entry as the protocol shows it (no database id)."""
    return {key: value for key, value in room.items() if key != "id"}


# --- reads composed for one database_sync_to_async call each -------------------------


def _rooms_if_allowed(*, user_id: int) -> list[RoomState] | None:
    """The user's joined rooms, or None when the account may not chat at all."""
    if not selectors.account_allowed(user_id=user_id):
        return None
    return selectors.user_rooms(user_id=user_id)


def _rooms_and_backlogs(
    *, user_id: int, after: dict[str, int], limit: int
) -> tuple[list[RoomState], dict[int, HistoryOut], ProfileOut | None]:
    """Read after joining the hub: the rooms' state (their last_seq starts the live
    streams), the resume backlogs (one query for all rooms) and the user's profile."""
    rooms = selectors.user_rooms(user_id=user_id)
    wanted = {room["id"]: after[room["slug"]] for room in rooms if room["slug"] in after}
    backlogs = selectors.message_backlogs(after=wanted, limit=limit)
    return rooms, backlogs, selectors.user_profile(user_id)


def _history_and_profile(
    *, room_id: int, after: int | None, limit: int, user_id: int
) -> tuple[HistoryOut, ProfileOut | None]:
    """Read after joining the hub: the room's history (or resume backlog) and the
    user's profile for hello."""
    history = selectors.message_history(room_id=room_id, after=after, limit=limit)
    return history, selectors.user_profile(user_id)


class ChatConsumer(Connection, AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """One WebSocket connection: one room (`/ws/chat/<slug>/`) or all the user's rooms
    (`all_rooms=True`, `/ws/chat/`). Delivers each room's messages in seq order, each
    once. Room events reach it through the process's hub (chat/realtime/), not a
    channel of its own, so it asks channels for no per-connection channel."""

    channel_layer_alias = None

    def __init__(self, *, all_rooms: bool = False) -> None:
        super().__init__()
        self.all_rooms = all_rooms
        self.ip: str | None = None
        self.by_slug: dict[str, Stream] = {}  # the rooms this connection carries
        self.watching: Stream | None = None  # all rooms: a public room previewed
        self._last_typing_at: dict[int, float] = {}
        self._slot: limits.Slot | None = None  # this connection's share of the caps
        # This process's realtime machinery, as of the connection's start (consumers are
        # built inside the server's event loop; tests swap layers between connections).
        self.runtime = realtime.current()
        self._rooms_lock = asyncio.Lock()  # joins and leaves of rooms, one at a time
        self._held_membership: list[tuple[int, str, str, str]] = []  # came before hello

    async def dispatch(self, message: dict[str, object]) -> None:
        # channels' dispatch first runs close_old_connections in a worker thread for
        # every frame; each database_sync_to_async call here already does that around
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
        guard, self.ip = limits.current(), limits.client_ip(self.scope)
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
            after_rooms = protocol.parse_after_rooms(query) if self.all_rooms else {}
            after = None if self.all_rooms else protocol.parse_after(query)
        except ChatError:
            await self._refuse(CLOSE_BAD_REQUEST)
            return
        if self.all_rooms:
            rooms = await database_sync_to_async(_rooms_if_allowed)(user_id=user.pk)
            if rooms is None:
                await self._refuse(CLOSE_FORBIDDEN)
                return
        else:
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
        self._slot = await guard.admit(user_id=user.pk, ip=self.ip)  # given back on disconnect
        if self._slot is None:
            await self._refuse(CLOSE_TOO_MANY)
            return
        try:
            if self.all_rooms:
                await self._open_all(rooms, after_rooms)
            else:
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
        history, profile = await database_sync_to_async(_history_and_profile)(
            room_id=room["id"], after=after, limit=limit, user_id=self.user_id
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
        rooms, backlogs, profile = await database_sync_to_async(_rooms_and_backlogs)(
            user_id=self.user_id, after=after, limit=settings.CHAT_RESUME_LIMIT
        )
        await self._reconcile(rooms)
        entries = []
        for room in rooms:
            entry = _public(room)
            backlog = backlogs.get(room["id"])
            if backlog is not None:
                entry["resumed"] = {"after": after[room["slug"]], "complete": backlog["complete"]}
            entries.append(entry)
        await self._accept("*")
        user = profile or {"username": self.username}
        hello = {"type": "hello", "user": user, "rooms": entries}
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

    def _add_stream(self, room_id: int, slug: str, *, counted: bool) -> Stream:
        stream = self.streams[room_id] = Stream(room_id, slug, counted=counted)
        self.by_slug[slug] = stream
        return stream

    def _drop_stream(self, room_id: int) -> None:
        stream = self.streams.pop(room_id, None)
        if stream is not None and self.by_slug.get(stream.slug) is stream:
            del self.by_slug[stream.slug]
        if stream is not None and stream is self.watching:
            self.watching = None

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
        observability.connection_refused(self.scope, code, limits.client_ip(self.scope))
        await self.close(code=code)

    # --- client frames ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        async with self.frame_lock:
            if self.state != State.OPEN:
                return  # never acknowledged, so the client resends it elsewhere
            command: protocol.Command | None = None
            received_at = observability.frame_received()
            self.last_frame_at = asyncio.get_running_loop().time()
            try:
                limits.frame_check(text_data, bytes_data)
                if text_data is None:
                    raise ChatError("binary_frame", "Only JSON text frames are accepted.")
                command = protocol.parse_frame(text_data, all_rooms=self.all_rooms)
                await self._handle(command)
                observability.frame_handled(command, received_at)
            except ChatError as error:
                observability.error_sent(self, error.code)
                await self._send_error(error, command, text_data)
                if error.code in LOST_ACCESS and not self.all_rooms:
                    await self.close(code=CLOSE_FORBIDDEN)
                elif isinstance(error, limits.RateLimited) and error.flooding:
                    await self.close(code=CLOSE_TOO_MANY)
            except Exception:
                logger.exception("chat frame failed user=%s", self.username)
                observability.error_sent(self, _INTERNAL_ERROR.code)
                await self._send_error(_INTERNAL_ERROR, command, text_data)

    async def _send_error(
        self, error: ChatError, command: protocol.Command | None, text: str | None
    ) -> None:
        frame: dict[str, object] = dict(error.as_frame(_client_id(command)))
        if self.all_rooms:
            room = getattr(command, "room", None) if command is not None else _named_room(text)
            if isinstance(room, str):
                frame["room"] = room
        await self._send_text(events.encode(frame))

    async def _handle(self, command: protocol.Command) -> None:
        user = self.scope["user"]
        frame: dict[str, object]
        match command:
            case protocol.SendMessage(body=body, client_id=client_id, room=slug):
                stream = self._joined(slug)
                await limits.current().message_check(user.pk)
                message = await database_sync_to_async(services.message_post)(
                    room_id=stream.room_id, author=user, body=body, client_id=client_id
                )
                frame = {"type": "ack", "client_id": client_id, "message": message}
            case protocol.FetchHistory(before=before, limit=limit, room=slug):
                room_id = await self._readable(slug)
                messages = await database_sync_to_async(services.history_page)(
                    room_id=room_id, user=user, before=before, limit=limit
                )
                frame = {"type": "history", "before": before, "messages": messages}
            case protocol.EditMessage(id=message_id, body=body):
                # Answered by the message.updated broadcast (or an error).
                await database_sync_to_async(services.message_edit)(
                    message_id=message_id, user=user, body=body
                )
                return
            case protocol.DeleteMessage(id=message_id):
                await database_sync_to_async(services.message_delete)(
                    message_id=message_id, user=user
                )
                return
            case protocol.Typing(room=slug):
                # Unanswered; a client typing faster than the interval is simply thinned.
                stream = self._joined(slug)
                now = asyncio.get_running_loop().time()
                last = self._last_typing_at.get(stream.room_id, float("-inf"))
                if now - last >= settings.CHAT_TYPING_MIN_INTERVAL_SECONDS:
                    self._last_typing_at[stream.room_id] = now
                    await self._announce_typing(stream)
                return
            case protocol.ReadRoom(room=slug, seq=seq):
                self._joined(slug)
                slug, state, changed = await database_sync_to_async(services.room_read)(
                    user=user, slug=slug, seq=seq
                )
                if changed:
                    return  # every connection of the user, this one too, gets room.read
                frame = {"type": "room.read", **state}
            case protocol.JoinRoom(room=slug):
                state, newly = await database_sync_to_async(services.room_join)(
                    user=user, slug=slug
                )
                if newly:
                    return  # room.joined comes to every connection through the hub
                await self._room_joined(state["id"], state["slug"])
                return
            case protocol.LeaveRoom(room=slug):
                if slug not in self.by_slug or not self.by_slug[slug].counted:
                    raise _NOT_JOINED
                # Answered by room.left, which every connection of the user gets.
                await database_sync_to_async(services.room_leave)(user=user, slug=slug)
                return
            case protocol.WatchRoom(room=slug):
                await self._watch(slug)
                return
            case protocol.FetchOnline(room=slug):
                room_id = await self._readable(slug)
                hub = await self.runtime.hub()
                online, count = await hub.online(room_id, settings.CHAT_HELLO_ONLINE_LIMIT)
                frame = {"type": "online", "online": online, "online_count": count}
        if self.all_rooms:
            frame = {"type": frame["type"], "room": getattr(command, "room", None), **frame}
        await self._send_text(events.encode(frame))

    def _joined(self, slug: str | None) -> Stream:
        """The stream of a room the user joined (the per-room endpoint: its room).
        A local lookup: joins and leaves reach this connection as events."""
        if slug is None:
            return next(iter(self.streams.values()))
        stream = self.by_slug.get(slug)
        if stream is None or not stream.counted:
            raise _NOT_JOINED
        return stream

    async def _readable(self, slug: str | None) -> int:
        """The id of a room the user may read (access itself is the service's check)."""
        if slug is None:
            return next(iter(self.streams))
        stream = self.by_slug.get(slug)
        if stream is not None:
            return stream.room_id
        room, access = await database_sync_to_async(selectors.room_with_access)(
            slug=slug, user_id=self.user_id
        )
        if room is None:
            raise ChatError("room_not_found", "No such room.")
        if not access["read"]:
            raise ChatError(access["code"], access["detail"])
        return int(room["id"])

    async def _announce_typing(self, stream: Stream) -> None:
        # Never answered, not even on failure: a reply would be taken for the answer to
        # the client's previous send. Someone who may not write is not shown typing.
        try:
            access = await database_sync_to_async(selectors.access_for)(
                room_id=stream.room_id, user_id=self.user_id
            )
            if access["write"]:
                await presence.typing_announce(
                    room_id=stream.room_id, slug=stream.slug, username=self.username
                )
        except Exception:
            logger.exception("typing announce failed room=%s", stream.slug)

    # --- rooms joined, left and watched (all rooms) -----------------------------------

    async def membership_changed(self, room_id: int, slug: str, action: str, reason: str) -> None:
        if self.state == State.CONNECTING:
            self._held_membership.append((room_id, slug, action, reason))
            return
        if self.state != State.OPEN:
            return
        if action == "joined":
            await self._room_joined(room_id, slug)
        elif action == "left":
            await self._room_left(room_id, slug, reason)

    async def _room_joined(self, room_id: int, slug: str) -> None:
        """Carry the room (if not yet) and say so with room.joined to this connection."""
        async with self._rooms_lock:
            hub = await self.runtime.hub()
            stream = self.streams.get(room_id)
            if stream is None:
                stream = self._add_stream(room_id, slug, counted=True)
                await hub.join(self, [room_id], online={room_id: slug})
                fresh = True
            elif not stream.counted:  # it was being watched: now it counts
                stream.counted = True
                self.watching = None
                await hub.join(self, [room_id], online={room_id: slug})
                fresh = False
            else:
                fresh = False
            # Read after joining the hub: the stream starts after this last_seq.
            state = await database_sync_to_async(selectors.user_room)(
                user_id=self.user_id, room_id=room_id
            )
            if state is None:  # left again, or banned, meanwhile
                if fresh:
                    await hub.leave(self, [room_id])
                    self._drop_stream(room_id)
                return
            await self._write(events.encode({"type": "room.joined", "room": _public(state)}))
            if fresh:
                await self.start_stream(stream, state["last_seq"])

    async def _room_left(self, room_id: int, slug: str, reason: str) -> None:
        async with self._rooms_lock:
            stream = self.streams.get(room_id)
            if stream is None or not stream.counted:
                return
            self._drop_stream(room_id)  # its events stop at once
            hub = await self.runtime.hub()
            await hub.leave(self, [room_id])
            frame = {"type": "room.left", "room": slug, "reason": reason}
            await self._write(events.encode(frame))

    async def _watch(self, slug: str | None) -> None:
        async with self._rooms_lock:
            hub = await self.runtime.hub()
            previous = self.watching
            if previous is not None and previous.slug != slug:
                self._drop_stream(previous.room_id)
                await hub.leave(self, [previous.room_id])
            if slug is None:
                return
            joined = self.by_slug.get(slug)
            if joined is not None and joined.counted:
                preview = await database_sync_to_async(selectors.user_room)(
                    user_id=self.user_id, room_id=joined.room_id
                )
                if preview is not None:
                    frame = {"type": "room.watching", "room": _public(preview)}
                    await self._write(events.encode(frame))
                return
            preview = await database_sync_to_async(selectors.room_preview)(
                user_id=self.user_id, slug=slug
            )
            stream = self.by_slug.get(slug) or self._add_stream(
                preview["id"], preview["slug"], counted=False
            )
            self.watching = stream
            await hub.join(self, [stream.room_id], online={})  # a preview is not presence
            if stream.order.started:
                last = stream.delivered
            else:
                last = (await reads.last_seqs([stream.room_id])).get(stream.room_id, 0)
            preview["last_seq"] = preview["last_read_seq"] = last
            await self._write(events.encode({"type": "room.watching", "room": _public(preview)}))
            if not stream.order.started:
                await self.start_stream(stream, last)

    async def counts_changed(self, room_id: int, frame: str) -> None:
        stream = self.streams.get(room_id)
        if stream is not None and stream.counted:
            await self.push(room_id, frame)


def _client_id(command: protocol.Command | None) -> str | None:
    return command.client_id if isinstance(command, protocol.SendMessage) else None


def _named_room(text: str | None) -> str | None:
    """The room a frame that could not be parsed names, for its error (best effort)."""
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    room = data.get("room") if isinstance(data, dict) else None
    return room if isinstance(room, str) and len(room) <= protocol.MAX_SLUG_CHARS else None


class EchoConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    """Diagnostic endpoint: returns every frame exactly as it was sent."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.send(text_data=text_data)
        elif bytes_data is not None:
            await self.send(bytes_data=bytes_data)
