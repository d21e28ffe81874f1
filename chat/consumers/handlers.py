"""The client frames of a chat connection, one small function per parsed command type
(HANDLERS): each calls one service or selector (reads on the read threads, writes on
the database thread, sends through the process's group-commit writer) and returns the
answer frame, or None when a broadcast answers. No ORM here; no socket writes either:
the consumer sends what a handler returns."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from chat import selectors, services
from chat.consumers import commands
from chat.consumers.rooms import RoomChanges
from chat.consumers.state import NOT_JOINED, ConnectionState
from chat.database import dbcalls, group_commit
from chat.limits import policy
from chat.presence.typing_notice import typing_announce
from chat.protocol import parsing
from chat.realtime.connection import Stream
from chat.services.posting import SendRequest

logger = logging.getLogger(__name__)

Answer = dict[str, object] | None


async def send_message(
    state: ConnectionState, rooms: RoomChanges, c: parsing.SendMessage
) -> Answer:
    stream = state.joined(c.room)
    await policy.current().message_check(state.user.pk)
    # Saved with the other sends of this process that come meanwhile (one transaction),
    # published, then acknowledged.
    message = await group_commit.current().post(
        SendRequest(
            room_id=stream.room_id,
            author=state.user,
            body=c.body,
            client_id=c.client_id,
            reply_to=c.reply_to,
            thread=c.thread,
            also_to_room=c.also_to_room,
        )
    )
    return {"type": "ack", "client_id": c.client_id, "message": message}


async def fetch_history(
    state: ConnectionState, rooms: RoomChanges, c: parsing.FetchHistory
) -> Answer:
    room_id = await state.readable(c.room)
    page: dict[str, Any] = {
        "room_id": room_id,
        "user": state.user,
        "before": c.before,
        "limit": c.limit,
        "after": c.after,
        "around": c.around,
    }
    # The answer names the read as it was asked (before, after or around).
    asked: dict[str, object] = (
        {"around": c.around}
        if c.around is not None
        else {"after": c.after}
        if c.after is not None
        else {"before": c.before}
    )
    if c.thread is None:
        messages = await dbcalls.read(services.history_page, **page)
        return {"type": "history", **asked, "messages": messages}
    root, replies = await dbcalls.read(services.thread_history, root_id=c.thread, **page)
    return {"type": "history", "thread": c.thread, "root": root, **asked, "messages": replies}


async def edit_message(
    state: ConnectionState, rooms: RoomChanges, c: parsing.EditMessage
) -> Answer:
    # Answered by the message.updated broadcast (or an error).
    await dbcalls.write(services.message_edit, message_id=c.id, user=state.user, body=c.body)
    return None


async def delete_message(
    state: ConnectionState, rooms: RoomChanges, c: parsing.DeleteMessage
) -> Answer:
    await dbcalls.write(services.message_delete, message_id=c.id, user=state.user)
    return None


async def react(state: ConnectionState, rooms: RoomChanges, c: parsing.React) -> Answer:
    # Every reaction is broadcast to the room: it draws from the sender's message
    # budget, so toggling one emoji cannot flood a room.
    await policy.current().message_check(state.user.pk)
    reaction, changed = await dbcalls.write(
        services.reaction_set,
        message_id=c.message_id,
        user=state.user,
        emoji_text=c.emoji,
        added=c.added,
        room_ids=set(state.conn.streams),
    )
    if changed:
        return None  # answered by the reaction broadcast (this connection too)
    return dict(reaction)  # nothing changed: the state, to this one only


async def typing_started(state: ConnectionState, rooms: RoomChanges, c: parsing.Typing) -> Answer:
    # Unanswered; a client typing faster than the interval is simply thinned.
    stream = state.joined(c.room)
    now = asyncio.get_running_loop().time()
    key = (stream.room_id, c.thread)  # the room's composer and each thread's apart
    last = state.last_typing_at.get(key, float("-inf"))
    if now - last >= settings.CHAT_TYPING_MIN_INTERVAL_SECONDS:
        state.last_typing_at[key] = now
        await _announce_typing(state, stream, c.thread)
    return None


async def _announce_typing(state: ConnectionState, stream: Stream, thread: int | None) -> None:
    # Never answered, not even on failure: a reply would be taken for the answer to
    # the client's previous send. Someone who may not write is not shown typing.
    try:
        access = await dbcalls.read(
            selectors.access_for, room_id=stream.room_id, user_id=state.conn.user_id
        )
        if access["write"]:
            await typing_announce(
                room_id=stream.room_id,
                slug=stream.slug,
                username=state.conn.username,
                thread=thread,
            )
    except Exception:
        logger.exception("typing announce failed room=%s", stream.slug)


async def read_room(state: ConnectionState, rooms: RoomChanges, c: parsing.ReadRoom) -> Answer:
    state.joined(c.room)
    _, read, changed = await dbcalls.write(
        services.room_read, user=state.user, slug=c.room, seq=c.seq
    )
    if changed:
        return None  # every connection of the user, this one too, gets room.read
    return {"type": "room.read", **read}


async def join_room(state: ConnectionState, rooms: RoomChanges, c: parsing.JoinRoom) -> Answer:
    room, newly = await dbcalls.write(services.room_join, user=state.user, slug=c.room)
    if not newly:  # else room.joined comes to every connection through the hub
        await rooms.joined(room["id"], room["slug"])
    return None


async def leave_room(state: ConnectionState, rooms: RoomChanges, c: parsing.LeaveRoom) -> Answer:
    stream = state.conn.by_slug.get(c.room)
    if stream is None or not stream.counted:
        raise NOT_JOINED
    # Answered by room.left, which every connection of the user gets.
    await dbcalls.write(services.room_leave, user=state.user, slug=c.room)
    return None


async def watch_room(state: ConnectionState, rooms: RoomChanges, c: parsing.WatchRoom) -> Answer:
    await rooms.watch(c.room)
    return None


async def fetch_online(
    state: ConnectionState, rooms: RoomChanges, c: parsing.FetchOnline
) -> Answer:
    room_id = await state.readable(c.room)
    hub = await state.runtime.hub()
    online, count = await hub.online(room_id, settings.CHAT_HELLO_ONLINE_LIMIT)
    return {"type": "online", "online": online, "online_count": count}


async def set_notify_level(
    state: ConnectionState, rooms: RoomChanges, c: parsing.SetNotifyLevel
) -> Answer:
    # Answered by room.notify, which every connection of the user gets.
    await dbcalls.write(services.notify_level_set, user=state.user, slug=c.room, level=c.level)
    return None


async def pause_notifications(
    state: ConnectionState, rooms: RoomChanges, c: parsing.PauseNotifications
) -> Answer:
    # Answered by notify.prefs, which every connection of the user gets.
    await dbcalls.write(services.notify_prefs_set, user=state.user, paused_until=c.until)
    return None


async def search_members(
    state: ConnectionState, rooms: RoomChanges, c: parsing.SearchMembers
) -> Answer:
    room_id = await state.readable(c.room)
    found = await dbcalls.read(selectors.room_members_matching, room_id=room_id, prefix=c.prefix)
    return {"type": "members", "prefix": c.prefix, "members": found}


async def follow_thread(
    state: ConnectionState, rooms: RoomChanges, c: parsing.FollowThread
) -> Answer:
    # Answered by thread.state, which every connection of the user gets.
    await dbcalls.write(
        services.thread_follow, user=state.user, slug=c.room, root_id=c.root, following=c.following
    )
    return None


async def read_thread(state: ConnectionState, rooms: RoomChanges, c: parsing.ReadThread) -> Answer:
    read, changed = await dbcalls.write(
        services.thread_read, user=state.user, slug=c.room, root_id=c.root, seq=c.seq
    )
    if changed:
        return None  # every connection of the user, this one too, gets thread.state
    totals = await dbcalls.read(selectors.thread_totals, user_ids=[state.conn.user_id])
    return {"type": "thread.state", **read, "threads": totals[state.conn.user_id]}


async def fetch_threads(
    state: ConnectionState, rooms: RoomChanges, c: parsing.FetchThreads
) -> Answer:
    page = await dbcalls.read(
        selectors.threads_page,
        user_id=state.conn.user_id,
        unread=c.unread,
        before=c.before,
        limit=c.limit,
    )
    return {"type": "threads", "unread": c.unread, "before": c.before, **page}


# Each handler takes its own command type; the table's value type cannot say "the key's
# type", so it takes Any here and `handle` below is the only caller.
Handler = Callable[[ConnectionState, RoomChanges, Any], Awaitable[Answer]]

HANDLERS: dict[type[parsing.Command], Handler] = {
    parsing.SendMessage: send_message,
    parsing.FetchHistory: fetch_history,
    parsing.EditMessage: edit_message,
    parsing.DeleteMessage: delete_message,
    parsing.React: react,
    parsing.Typing: typing_started,
    parsing.ReadRoom: read_room,
    parsing.JoinRoom: join_room,
    parsing.LeaveRoom: leave_room,
    parsing.WatchRoom: watch_room,
    parsing.FetchOnline: fetch_online,
    parsing.SetNotifyLevel: set_notify_level,
    parsing.PauseNotifications: pause_notifications,
    parsing.SearchMembers: search_members,
    parsing.FollowThread: follow_thread,
    parsing.ReadThread: read_thread,
    parsing.FetchThreads: fetch_threads,
    parsing.RunCommand: commands.run,
}


async def handle(state: ConnectionState, rooms: RoomChanges, command: parsing.Command) -> Answer:
    """Run the command's handler; its answer frame (None: nothing to send)."""
    return await HANDLERS[type(command)](state, rooms, command)
