"""Opening and closing one chat connection: the checks before it is accepted (restart,
attempt rate, login, room access, caps), joining the hub, the hello, and giving all of
it back on disconnect. No ORM here: reads are composed below, one call each."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from accounts.identity import mfa_rule
from accounts.session_db import session_user
from chat import events, selectors
from chat.consumers.state import ConnectionState, public
from chat.database import dbcalls
from chat.errors import ChatError
from chat.limits import policy
from chat.ops import observability
from chat.protocol import parsing
from chat.protocol.codes import CloseCode
from chat.protocol.command_frames import CommandInfo
from chat.realtime.connection import State
from chat.selectors import HistoryOut, NotifyPrefsOut, ProfileOut, RoomState, ThreadTotals
from integrations.commands import commands_list

# Accepts the socket; the argument names the endpoint for the logs ("*": all rooms).
Accept = Callable[[str], Awaitable[None]]


# --- reads composed for one database call each (on the read threads) ---------------


class _Found(NamedTuple):
    """The first read: who the login session is, and where they may go."""

    user: Any  # the session's User, or AnonymousUser (Django's: untyped here)
    allowed: bool  # logged in, and past the second-factor rule if it applies
    rooms: list[tuple[int, str]] | None  # all rooms: which (None: may not chat at all)
    room: selectors.RoomOut | None  # one room's endpoint: the room (None: no such room)
    may_read: bool  # one room's endpoint: the user may read it


def _who_and_where(
    *, session: SessionBase | None, all_rooms: bool, slug: str | None, query_ok: bool
) -> _Found:
    """The session's user (Django's rules, as channels' AuthMiddleware has them), then,
    for a user who may connect with a well-formed query, the rooms: one call, where the
    middleware's lookup was a thread hop of its own. An all-rooms connection reads only
    which rooms here; their state is read once the hub has them."""
    user = session_user(session)
    # A session the second-factor rule applies to and that has not passed it: as if
    # not logged in (the session's data was loaded to find the user: no query).
    allowed = user.is_authenticated and mfa_rule.session_allowed(user, session)
    if not allowed or not query_ok or user.pk is None:
        return _Found(user, allowed, None, None, False)
    user_id = user.pk
    if all_rooms:
        return _Found(user, True, selectors.rooms_to_join(user_id=user_id), None, False)
    room, access = selectors.room_with_access(slug=slug or "", user_id=user_id)
    return _Found(user, True, None, room, bool(access["read"]))


class _AllRooms(NamedTuple):
    rooms: list[RoomState]
    backlogs: dict[int, HistoryOut]
    profile: ProfileOut | None
    prefs: NotifyPrefsOut
    threads: ThreadTotals
    commands: list[CommandInfo]


def _rooms_and_backlogs(*, user_id: int, after: dict[str, int], limit: int) -> _AllRooms:
    """Read after joining the hub: the rooms' state (their last_seq starts the live
    streams), the resume backlogs (one query for all rooms), the user's profile,
    notification preferences and thread totals (one query however many threads)."""
    rooms = selectors.user_rooms(user_id=user_id)
    wanted = {room["id"]: after[room["slug"]] for room in rooms if room["slug"] in after}
    backlogs = selectors.message_backlogs(after=wanted, limit=limit, reader_id=user_id)
    profile, prefs = selectors.user_profile_and_prefs(user_id)
    return _AllRooms(
        rooms,
        backlogs,
        profile,
        prefs,
        selectors.thread_totals(user_ids=[user_id])[user_id],
        commands_list(),
    )


def _history_and_profile(
    *, room_id: int, after: int | None, limit: int, user_id: int
) -> tuple[HistoryOut, ProfileOut | None, list[CommandInfo]]:
    """Read after joining the hub: the room's history (or resume backlog), the
    user's profile and the slash commands for hello."""
    history = selectors.message_history(
        room_id=room_id, after=after, limit=limit, reader_id=user_id
    )
    return history, selectors.user_profile(user_id), commands_list()


class Opening:
    """The consumer's collaborator for connect and disconnect."""

    def __init__(self, state: ConnectionState, accept: Accept) -> None:
        self.state = state
        self.accept = accept

    async def open(self, scope: dict[str, Any]) -> int | None:
        """Check and open the connection: None once the hello is sent, else the close
        code to refuse it with."""
        state, conn = self.state, self.state.conn
        if state.runtime.shutting_down:
            return CloseCode.SERVICE_RESTART
        guard, state.ip = policy.current(), policy.client_ip(scope)
        if not await guard.attempt_allowed(state.ip):
            return CloseCode.TOO_MANY
        query = scope.get("query_string", b"")
        try:
            after_rooms = parsing.parse_after_rooms(query) if conn.all_rooms else {}
            after = None if conn.all_rooms else parsing.parse_after(query)
            query_ok = True
        except ChatError:
            after_rooms, after, query_ok = {}, None, False
        slug: str | None = None if conn.all_rooms else scope["url_route"]["kwargs"]["slug"]
        session = scope.get("session")
        found = await dbcalls.read(
            _who_and_where,
            session=session,
            all_rooms=conn.all_rooms,
            slug=slug,
            query_ok=query_ok,
        )
        scope["user"] = found.user  # as channels' AuthMiddleware would (the logs read it)
        if not found.allowed:
            return CloseCode.UNAUTHENTICATED
        if not query_ok:
            return CloseCode.BAD_REQUEST
        state.user = user = found.user
        conn.user_id, conn.username = user.pk, user.get_username()
        conn.session_key = getattr(session, "session_key", None)
        rooms, room = found.rooms, found.room
        if conn.all_rooms and rooms is None:
            return CloseCode.FORBIDDEN
        if not conn.all_rooms:
            if room is None:
                return CloseCode.ROOM_NOT_FOUND
            if not found.may_read:
                return CloseCode.FORBIDDEN
        state.slot = await guard.admit(user_id=conn.user_id, ip=state.ip)  # given back in closed
        if state.slot is None:
            return CloseCode.TOO_MANY
        try:
            if rooms is not None:
                await self._open_all(rooms, after_rooms)
            elif room is not None:
                await self._open_one(room, after)
        except BaseException:
            # Channels never dispatches websocket.disconnect to a consumer whose connect
            # raised, so its cap slot and hub membership would outlive it.
            await self.closed(CloseCode.INTERNAL_ERROR)
            raise
        return None

    def _register(self) -> None:
        self.state.conn.last_frame_at = asyncio.get_running_loop().time()
        self.state.runtime.registry.add(self.state.conn)

    async def _open_one(self, room: selectors.RoomOut, after: int | None) -> None:
        state, conn = self.state, self.state.conn
        self._register()
        stream = state.add_stream(room["id"], room["slug"], counted=True)
        # Join before reading history: anything committed from here on arrives as an
        # event, anything earlier is in the history; the seq check removes the overlap.
        hub = await state.runtime.hub()
        await hub.join(conn, [room["id"]], online={room["id"]: room["slug"]})
        limit = settings.CHAT_HISTORY_LIMIT if after is None else settings.CHAT_RESUME_LIMIT
        history, profile, commands = await dbcalls.read(
            _history_and_profile, room_id=room["id"], after=after, limit=limit, user_id=conn.user_id
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
            "user": profile or {"username": conn.username},
            "online": online,
            "online_count": online_count,
            "history": messages,
            "commands": commands,
        }
        if after is not None:
            hello["resumed"] = {"after": after, "complete": history["complete"]}
        await self.accept(room["slug"])
        await state.send(hello)
        await conn.start_stream(stream, delivered)
        await conn.opened()

    async def _open_all(self, joining: list[tuple[int, str]], after: dict[str, int]) -> None:
        state, conn = self.state, self.state.conn
        self._register()
        for room_id, slug in joining:
            state.add_stream(room_id, slug, counted=True)
        hub = await state.runtime.hub()
        await hub.join(conn, [room_id for room_id, _ in joining], online=dict(joining))
        # The rooms' state now that events flow: the streams start after these last seqs.
        rooms, backlogs, profile, prefs, threads, commands = await dbcalls.read(
            _rooms_and_backlogs,
            user_id=conn.user_id,
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
        await self.accept("*")
        user = profile or {"username": conn.username}
        await state.send(
            {
                "type": "hello",
                "user": user,
                "rooms": entries,
                "notify": prefs,
                "threads": threads,
                "commands": commands,
            }
        )
        for room in rooms:
            stream = conn.streams[room["id"]]
            backlog = backlogs.get(room["id"])
            if backlog is None:
                await conn.start_stream(stream, room["last_seq"])
                continue
            messages = backlog["messages"]
            if backlog["complete"]:
                start = min(after[room["slug"]], backlog["last_seq"])
            else:  # the newest CHAT_RESUME_LIMIT: the client pages back the rest
                start = messages[0]["seq"] - 1
            frames = [(m["seq"], events.message_frame(m)) for m in messages]
            await conn.start_stream(stream, start, frames, backlog["last_seq"])
        await conn.opened()

    async def _reconcile(self, rooms: list[RoomState]) -> None:
        # Rooms joined or left between the two reads (another tab, staff) follow here.
        state, conn = self.state, self.state.conn
        hub = await state.runtime.hub()
        now = {room["id"]: room["slug"] for room in rooms}
        gone = [room_id for room_id in conn.streams if room_id not in now]
        new = {room_id: slug for room_id, slug in now.items() if room_id not in conn.streams}
        if gone:
            await hub.leave(conn, gone)
            for room_id in gone:
                state.drop_stream(room_id)
        if new:
            for room_id, slug in new.items():
                state.add_stream(room_id, slug, counted=True)
            await hub.join(conn, list(new), online=new)

    async def closed(self, code: int) -> None:
        """The socket is gone: give back the cap slot and leave the hub."""
        state, conn = self.state, self.state.conn
        observability.connection_closed(conn, code)
        conn.state = State.CLOSED
        slot, state.slot = state.slot, None
        if slot is not None:
            await slot.release()
        registry = state.runtime.registry
        if conn in registry.connections:
            try:
                hub = await state.runtime.hub()
                await hub.leave(conn, registry.rooms_of(conn))
            finally:
                registry.remove(conn)
