"""Parse and validate client WebSocket frames into typed commands.

Pure: no Django, no I/O. Every rejection is a ChatError with a documented code
(docs/protocol.md), so the consumer can answer it and keep the connection.
"""

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from chat.errors import ChatError
from chat.protocol import fields
from chat.protocol.codes import ErrorCode, FrameType
from chat.protocol.command_frames import RunCommand as RunCommand
from chat.protocol.command_frames import parse_run
from chat.protocol.fields import MAX_SLUG_CHARS as MAX_SLUG_CHARS  # re-exported
from chat.protocol.thread_frames import (
    FetchThreads as FetchThreads,
)
from chat.protocol.thread_frames import (
    FollowThread as FollowThread,
)
from chat.protocol.thread_frames import (
    ReadThread as ReadThread,
)
from chat.protocol.thread_frames import (
    parse_fetch_threads,
    parse_follow,
)
from chat.protocol.thread_frames import parse_read as parse_read_thread

MAX_CLIENT_ID_CHARS = 64
MAX_FETCH_LIMIT = 100
DEFAULT_FETCH_LIMIT = 50
MAX_RESUME_ROOMS = 200  # slug:seq pairs in the all-rooms endpoint's ?after=

# On the per-room endpoint `room` is None (the URL names the room); on /ws/chat/ it is
# the slug the frame names.


@dataclass(frozen=True, slots=True)
class SendMessage:
    body: str
    client_id: str
    room: str | None = None
    reply_to: int | None = None  # the id of the message it answers
    thread: int | None = None  # a reply in the thread of this root message
    also_to_room: bool = False  # a thread reply shown in the room's timeline too


@dataclass(frozen=True, slots=True)
class FetchHistory:
    before: int | None  # exactly one of before, after, around is set
    limit: int
    room: str | None = None
    after: int | None = None  # the first `limit` messages after it (reading forward)
    around: int | None = None  # this message and those on both sides (a search result)
    thread: int | None = None  # a thread's replies instead of the room's timeline


@dataclass(frozen=True, slots=True)
class Typing:
    room: str | None = None
    thread: int | None = None  # typing in this thread's composer


@dataclass(frozen=True, slots=True)
class ReadRoom:
    room: str
    seq: int


@dataclass(frozen=True, slots=True)
class JoinRoom:
    room: str


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    room: str


@dataclass(frozen=True, slots=True)
class WatchRoom:
    room: str | None  # None ends the watch


@dataclass(frozen=True, slots=True)
class FetchOnline:
    room: str


@dataclass(frozen=True, slots=True)
class SetNotifyLevel:
    room: str
    level: str  # "all", "mentions", "nothing" or "" (the default)


@dataclass(frozen=True, slots=True)
class PauseNotifications:
    until: datetime | None  # None: notifications on again


@dataclass(frozen=True, slots=True)
class SearchMembers:
    room: str
    prefix: str


@dataclass(frozen=True, slots=True)
class EditMessage:
    id: int
    body: str


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    id: int


@dataclass(frozen=True, slots=True)
class React:
    message_id: int
    emoji: str  # checked against the allowed set by the service (both transports)
    added: bool  # reaction.add (True) or reaction.remove


Command = (
    SendMessage
    | FetchHistory
    | Typing
    | EditMessage
    | DeleteMessage
    | ReadRoom
    | JoinRoom
    | LeaveRoom
    | WatchRoom
    | FetchOnline
    | SetNotifyLevel
    | PauseNotifications
    | SearchMembers
    | React
    | FollowThread
    | ReadThread
    | FetchThreads
    | RunCommand
)


_FRAME_TYPES: dict[type[Command], FrameType] = {
    SendMessage: FrameType.MESSAGE_SEND,
    FetchHistory: FrameType.HISTORY_FETCH,
    Typing: FrameType.TYPING,
    EditMessage: FrameType.MESSAGE_EDIT,
    DeleteMessage: FrameType.MESSAGE_DELETE,
    ReadRoom: FrameType.ROOM_READ,
    JoinRoom: FrameType.ROOM_JOIN,
    LeaveRoom: FrameType.ROOM_LEAVE,
    WatchRoom: FrameType.ROOM_WATCH,
    FetchOnline: FrameType.ONLINE_FETCH,
    SetNotifyLevel: FrameType.NOTIFY_SET,
    PauseNotifications: FrameType.NOTIFY_PAUSE,
    SearchMembers: FrameType.MEMBERS_SEARCH,
    FollowThread: FrameType.THREAD_FOLLOW,
    ReadThread: FrameType.THREAD_READ,
    FetchThreads: FrameType.THREADS_FETCH,
    RunCommand: FrameType.COMMAND_RUN,
}


def frame_type(command: Command) -> FrameType:
    """The `type` of the frame a command was parsed from (metrics label by it)."""
    if isinstance(command, React):  # one command for both frames
        return FrameType.REACTION_ADD if command.added else FrameType.REACTION_REMOVE
    return _FRAME_TYPES[type(command)]


def parse_frame(text: str, *, all_rooms: bool = False) -> Command:
    """Turn one text frame into a command, or raise ChatError. With `all_rooms` (the
    /ws/chat/ endpoint) frames about a room must name it, and the room frames exist."""
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        raise ChatError(ErrorCode.BAD_JSON, "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ChatError(ErrorCode.BAD_FRAME, "A frame must be a JSON object.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ChatError(ErrorCode.BAD_FRAME, 'A frame needs a string "type".')
    if all_rooms and kind in _ROOM_FRAMES:
        return _ROOM_FRAMES[kind](data)
    if kind == FrameType.MESSAGE_SEND:
        return _parse_send(data, all_rooms)
    if kind == FrameType.HISTORY_FETCH:
        return _parse_fetch(data, all_rooms)
    if kind == FrameType.TYPING:
        return Typing(
            room=_room(data) if all_rooms else None, thread=fields.optional_id(data, "thread")
        )
    if kind == FrameType.MESSAGE_EDIT:
        body = data.get("body")
        if not isinstance(body, str):
            raise ChatError(ErrorCode.BAD_FRAME, '"body" must be a string.')
        return EditMessage(id=_message_id(data), body=body)
    if kind == FrameType.MESSAGE_DELETE:
        return DeleteMessage(id=_message_id(data))
    if kind in (FrameType.REACTION_ADD, FrameType.REACTION_REMOVE):
        return _parse_react(data, added=kind == FrameType.REACTION_ADD)
    if kind == FrameType.COMMAND_RUN:
        return parse_run(data, all_rooms=all_rooms)
    raise ChatError(ErrorCode.UNKNOWN_TYPE, f"Unknown frame type {kind[:40]!r}.")


_room = fields.room_slug
_message_id = fields.message_id


def _parse_read(data: dict[str, Any]) -> ReadRoom:
    return ReadRoom(room=_room(data), seq=fields.seq(data))


def _parse_watch(data: dict[str, Any]) -> WatchRoom:
    if data.get("room", ...) is None:
        return WatchRoom(room=None)
    return WatchRoom(room=_room(data))


_ROOM_FRAMES: dict[str, Callable[[dict[str, Any]], Command]] = {
    FrameType.ROOM_READ: _parse_read,
    FrameType.ROOM_JOIN: lambda data: JoinRoom(room=_room(data)),
    FrameType.ROOM_LEAVE: lambda data: LeaveRoom(room=_room(data)),
    FrameType.ROOM_WATCH: _parse_watch,
    FrameType.ONLINE_FETCH: lambda data: FetchOnline(room=_room(data)),
    FrameType.NOTIFY_SET: lambda data: _parse_notify_set(data),
    FrameType.NOTIFY_PAUSE: lambda data: _parse_pause(data),
    FrameType.MEMBERS_SEARCH: lambda data: _parse_members_search(data),
    FrameType.THREAD_FOLLOW: parse_follow,
    FrameType.THREAD_READ: parse_read_thread,
    FrameType.THREADS_FETCH: parse_fetch_threads,
}

NOTIFY_LEVELS = ("all", "mentions", "nothing", "")
MAX_MEMBER_PREFIX_CHARS = 150  # a username's longest
MAX_PAUSE_DAYS = 366


def _parse_notify_set(data: dict[str, Any]) -> SetNotifyLevel:
    room = _room(data)
    level = data.get("level")
    if level not in NOTIFY_LEVELS:
        raise ChatError(ErrorCode.BAD_FRAME, '"level" must be "all", "mentions", "nothing" or "".')
    return SetNotifyLevel(room=room, level=str(level))


def _parse_pause(data: dict[str, Any]) -> PauseNotifications:
    until = data.get("until")
    if until is None:
        return PauseNotifications(until=None)
    parsed = None
    if isinstance(until, str) and len(until) <= 40:
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(until)
    if parsed is None or parsed.tzinfo is None:
        raise ChatError(
            ErrorCode.BAD_FRAME, '"until" must be null or an ISO 8601 time with its offset.'
        )
    if parsed - datetime.now(UTC) > timedelta(days=MAX_PAUSE_DAYS):
        raise ChatError(
            ErrorCode.BAD_FRAME, f"Notifications can be paused for {MAX_PAUSE_DAYS} days at most."
        )
    return PauseNotifications(until=parsed)


def _parse_members_search(data: dict[str, Any]) -> SearchMembers:
    room = _room(data)
    prefix = data.get("prefix", "")
    if not isinstance(prefix, str) or len(prefix) > MAX_MEMBER_PREFIX_CHARS:
        raise ChatError(
            ErrorCode.BAD_FRAME,
            f'"prefix" must be a string of at most {MAX_MEMBER_PREFIX_CHARS} characters.',
        )
    return SearchMembers(room=room, prefix=prefix)


def _parse_send(data: dict[str, Any], all_rooms: bool = False) -> SendMessage:
    # client_id first, so every later error can name the message it refuses.
    client_id = data.get("client_id")
    if (
        not isinstance(client_id, str)
        or not client_id
        or len(client_id) > MAX_CLIENT_ID_CHARS
        or not client_id.isprintable()
    ):
        raise ChatError(
            ErrorCode.BAD_CLIENT_ID,
            f'"client_id" must be a printable string of 1 to {MAX_CLIENT_ID_CHARS} characters.',
        )
    body = data.get("body")
    if body is None:
        raise ChatError(ErrorCode.EMPTY_BODY, 'A message needs a "body".', client_id=client_id)
    if not isinstance(body, str):
        raise ChatError(ErrorCode.BAD_FRAME, '"body" must be a string.', client_id=client_id)
    room = _room(data, client_id=client_id) if all_rooms else None
    reply_to = fields.optional_id(data, "reply_to", client_id=client_id)
    thread = fields.optional_id(data, "thread", client_id=client_id)
    also = data.get("also_to_room", False)
    if not isinstance(also, bool):
        raise ChatError(
            ErrorCode.BAD_FRAME, '"also_to_room" must be true or false.', client_id=client_id
        )
    return SendMessage(
        body=body,
        client_id=client_id,
        room=room,
        reply_to=reply_to,
        thread=thread,
        also_to_room=also and thread is not None,
    )


def _parse_fetch(data: dict[str, Any], all_rooms: bool = False) -> FetchHistory:
    room = _room(data) if all_rooms else None
    given = [key for key in ("before", "after", "around") if key in data]
    if len(given) != 1:
        raise ChatError(
            ErrorCode.BAD_FRAME, 'history.fetch needs one of "before", "after", "around".'
        )
    key = given[0]
    seq = data[key]
    least = 0 if key == "after" else 1
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < least:
        kind = "non-negative" if least == 0 else "positive"
        raise ChatError(ErrorCode.BAD_FRAME, f'"{key}" must be a {kind} integer seq.')
    limit = data.get("limit", DEFAULT_FETCH_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_FETCH_LIMIT:
        raise ChatError(
            ErrorCode.BAD_FRAME, f'"limit" must be an integer from 1 to {MAX_FETCH_LIMIT}.'
        )
    return FetchHistory(
        before=seq if key == "before" else None,
        limit=limit,
        room=room,
        after=seq if key == "after" else None,
        around=seq if key == "around" else None,
        thread=fields.optional_id(data, "thread"),
    )


def parse_after(query_string: bytes) -> int | None:
    """The `after` seq of a resuming connection's query string, if any."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values:
        return None
    try:
        after = int(values[-1])
    except ValueError:
        raise ChatError(
            ErrorCode.BAD_AFTER, '"after" must be a non-negative integer seq.'
        ) from None
    if after < 0:
        raise ChatError(ErrorCode.BAD_AFTER, '"after" must be a non-negative integer seq.')
    return after


def parse_after_rooms(query_string: bytes) -> dict[str, int]:
    """The all-rooms endpoint's resume points: `after=slug:seq,slug:seq,...` (at most
    MAX_RESUME_ROOMS pairs). A malformed one raises ChatError(ErrorCode.BAD_AFTER)."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values or not values[-1]:
        return {}
    pairs = values[-1].split(",")
    if len(pairs) > MAX_RESUME_ROOMS:
        raise ChatError(ErrorCode.BAD_AFTER, f'"after" names at most {MAX_RESUME_ROOMS} rooms.')
    after: dict[str, int] = {}
    for pair in pairs:
        slug, colon, seq = pair.rpartition(":")
        if not colon or not slug or len(slug) > MAX_SLUG_CHARS or not seq.isascii():
            raise ChatError(
                ErrorCode.BAD_AFTER, '"after" must be slug:seq pairs separated by commas.'
            )
        if not seq.isdigit():
            raise ChatError(
                ErrorCode.BAD_AFTER, '"after" must be slug:seq pairs separated by commas.'
            )
        after[slug] = int(seq)
    return after


def _parse_react(data: dict[str, Any], *, added: bool) -> React:
    # The message id names the room, as for edits: no "room" on either endpoint.
    message_id = _message_id(data, "message_id")
    text = data.get("emoji")
    if not isinstance(text, str) or not text:
        raise ChatError(ErrorCode.BAD_FRAME, '"emoji" must be a string.')
    return React(message_id=message_id, emoji=text, added=added)
