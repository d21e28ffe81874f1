"""Every frame the server sends a client, declared once as a type (docs/protocol.md is
their prose): `SERVER_FRAMES` maps each `type` to its shape(s), and `frame_problems`
checks a frame against them. Tests run every frame a test socket receives through it, so
a new frame type, or a field a client was not told of, fails the suite until it is
declared here. No I/O.
"""

import types
import typing
from typing import Literal, NotRequired, TypedDict, Union

from accounts.selectors import ProfileOut
from chat.protocol.command_frames import CommandInfo
from chat.selectors.message_rows import ThreadSummary
from chat.selectors.messages import MessageOut
from chat.selectors.notifying import NotifyPrefsOut
from chat.selectors.reading import ReadState
from chat.selectors.threads import ThreadItem, ThreadState, ThreadTotals

Json = dict[str, object]  # a nested object this module does not describe field by field


class UserName(TypedDict):
    username: str  # hello's user when their profile could not be read


class Resumed(TypedDict):
    after: int
    complete: bool


class RoomHello(TypedDict):
    """The first frame on /ws/chat/<slug>/."""

    type: Literal["hello"]
    room: Json  # id, slug, name, topic
    user: ProfileOut | UserName
    online: list[str]
    online_count: int
    history: list[MessageOut]
    resumed: NotRequired[Resumed]
    commands: list[CommandInfo]  # the slash commands the composer offers


class AllRoomsHello(TypedDict):
    """The first frame on /ws/chat/."""

    type: Literal["hello"]
    user: ProfileOut | UserName
    rooms: list[Json]  # hello.rooms entries (docs/protocol.md)
    notify: NotifyPrefsOut
    threads: ThreadTotals
    commands: list[CommandInfo]  # the slash commands the composer offers


class MessageFrame(TypedDict):
    type: Literal["message"]
    room: str
    message: MessageOut


class AckFrame(TypedDict):
    type: Literal["ack"]
    client_id: str
    message: MessageOut
    room: NotRequired[str | None]  # on /ws/chat/, every answer names its room


class HistoryFrame(TypedDict):
    type: Literal["history"]
    messages: list[MessageOut]
    before: NotRequired[int | None]
    after: NotRequired[int]
    around: NotRequired[int]
    room: NotRequired[str | None]
    thread: NotRequired[int]  # a thread's replies; `root` is its root
    root: NotRequired[MessageOut]


class MessageUpdatedFrame(TypedDict):
    type: Literal["message.updated"]
    room: str
    message: MessageOut


class MessageDeletedFrame(TypedDict):
    type: Literal["message.deleted"]
    id: int
    seq: int
    room: str


class RoomTrimmedFrame(TypedDict):
    """Retention removed the room's older messages: every message with seq < before is
    gone (a thread root whose replies live on stays as a deleted root)."""

    type: Literal["room.trimmed"]
    room: str
    before: int


class ReactionFrame(TypedDict):
    type: Literal["reaction"]
    room: str
    message_id: int
    emoji: str
    count: int  # how many members reacted so now
    username: str  # who added or removed it
    added: bool


class UserUpdatedFrame(TypedDict):
    type: Literal["user.updated"]
    user: ProfileOut


class PresenceFrame(TypedDict):
    type: Literal["presence"]
    room: str
    joined: list[str]
    left: list[str]
    online_count: NotRequired[int]


class TypingFrame(TypedDict):
    type: Literal["typing"]
    room: str
    user: str
    thread: int | None  # typing in this thread's composer


class RoomUpdatedFrame(TypedDict):
    """A room's topic changed (`/topic`): every connection of the room redraws it."""

    type: Literal["room.updated"]
    room: str
    topic: str


class ThreadUpdatedFrame(TypedDict):
    type: Literal["thread.updated"]
    room: str
    root: int
    summary: ThreadSummary


class ThreadStateFrame(TypedDict):
    type: Literal["thread.state"]
    room: str
    root: int
    following: bool
    last_read_seq: int
    unread: int
    mentions: int
    last_seq: int
    threads: ThreadTotals  # the user's totals after this change (hello's `threads`)


class ThreadsFrame(TypedDict):
    type: Literal["threads"]
    unread: bool
    before: str | None
    items: list[ThreadItem]
    next: str | None
    room: NotRequired[None]  # on /ws/chat/ every answer names its room: none here


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    detail: str
    client_id: NotRequired[str]  # when it answers a message.send
    retry_after: NotRequired[float]  # rate_limited: seconds
    room: NotRequired[str | None]


class RoomReadFrame(TypedDict):
    type: Literal["room.read"]
    room: str | None
    last_read_seq: int
    unread: int
    mentions: int
    last_seq: int


class RoomJoinedFrame(TypedDict):
    type: Literal["room.joined"]
    room: Json  # a hello.rooms entry


class RoomLeftFrame(TypedDict):
    type: Literal["room.left"]
    room: str
    reason: Literal["left", "removed", "banned"]


class RoomWatchingFrame(TypedDict):
    type: Literal["room.watching"]
    room: Json


class OnlineFrame(TypedDict):
    type: Literal["online"]
    online: list[str]
    online_count: int
    room: NotRequired[str | None]


class MembersFrame(TypedDict):
    type: Literal["members"]
    prefix: str
    members: list[ProfileOut]
    room: NotRequired[str | None]


class RoomNotifyFrame(TypedDict):
    type: Literal["room.notify"]
    room: str
    level: str


class NotifyPrefsFrame(TypedDict):
    type: Literal["notify.prefs"]
    paused_until: str | None
    email_missed: bool
    thread_replies: bool


class EphemeralFrame(TypedDict):
    """A slash command's answer for its caller alone: never stored, gone on reload."""

    type: Literal["ephemeral"]
    room: str | None  # None only on the per-room endpoint
    html: str  # rendered like a message's html (the same allow-list)
    text: str  # the plain text of it


SERVER_FRAMES: dict[str, tuple[type, ...]] = {
    "hello": (RoomHello, AllRoomsHello),
    "message": (MessageFrame,),
    "ack": (AckFrame,),
    "history": (HistoryFrame,),
    "message.updated": (MessageUpdatedFrame,),
    "message.deleted": (MessageDeletedFrame,),
    "room.trimmed": (RoomTrimmedFrame,),
    "reaction": (ReactionFrame,),
    "user.updated": (UserUpdatedFrame,),
    "presence": (PresenceFrame,),
    "typing": (TypingFrame,),
    "error": (ErrorFrame,),
    "room.read": (RoomReadFrame,),
    "room.joined": (RoomJoinedFrame,),
    "room.left": (RoomLeftFrame,),
    "room.watching": (RoomWatchingFrame,),
    "room.updated": (RoomUpdatedFrame,),
    "online": (OnlineFrame,),
    "members": (MembersFrame,),
    "room.notify": (RoomNotifyFrame,),
    "notify.prefs": (NotifyPrefsFrame,),
    "thread.updated": (ThreadUpdatedFrame,),
    "thread.state": (ThreadStateFrame,),
    "threads": (ThreadsFrame,),
    "ephemeral": (EphemeralFrame,),
}

# ThreadState is thread.state's body (services spread it into the frame).
assert set(ThreadState.__annotations__) <= set(ThreadStateFrame.__annotations__)  # noqa: S101
# ReadState is room.read's body (hub and services spread it into the frame).
assert set(ReadState.__annotations__) <= set(RoomReadFrame.__annotations__)  # noqa: S101


def frame_problems(frame: object) -> list[str]:
    """What is wrong with a frame sent to a client: [] when it matches a declared shape."""
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return ["not an object with a string type"]
    shapes = SERVER_FRAMES.get(frame["type"])
    if shapes is None:
        return [f"undeclared frame type {frame['type']!r} (add it to chat/events/frames.py)"]
    best: list[str] = []
    for shape in shapes:
        problems = _typed_dict_problems(frame, shape, frame["type"])
        if not problems:
            return []
        if not best or len(problems) < len(best):
            best = problems
    return best


def shape_problems(value: object, shape: type) -> list[str]:
    """What keeps a value from matching a TypedDict (events are checked with it too)."""
    if not isinstance(value, dict):
        return ["not an object"]
    return _typed_dict_problems(value, shape, shape.__name__)


def _typed_dict_problems(value: dict[str, object], shape: type, where: str) -> list[str]:
    hints = typing.get_type_hints(shape)
    required: frozenset[str] = getattr(shape, "__required_keys__", frozenset())
    problems = [f"{where}: missing {key!r}" for key in sorted(required - set(value))]
    problems += [f"{where}: unexpected {key!r}" for key in sorted(set(value) - set(hints))]
    for key, item in value.items():
        if key in hints:
            problems += _value_problems(item, hints[key], f"{where}.{key}")
    return problems


def _value_problems(value: object, hint: object, where: str) -> list[str]:
    origin = typing.get_origin(hint)
    if hint is object:
        return []
    if origin in (Union, types.UnionType):
        options = [_value_problems(value, option, where) for option in typing.get_args(hint)]
        return [] if any(not found for found in options) else min(options, key=len)
    if origin is Literal:
        allowed = typing.get_args(hint)
        return [] if value in allowed else [f"{where}: {value!r} not one of {allowed}"]
    if hint is type(None):
        return [] if value is None else [f"{where}: not null"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        (item_hint,) = typing.get_args(hint)
        return [
            p
            for n, item in enumerate(value)
            for p in _value_problems(item, item_hint, f"{where}[{n}]")
        ]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: not an object"]
    if isinstance(hint, type) and hasattr(hint, "__required_keys__"):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return _typed_dict_problems(value, hint, where)
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: not a number"]
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: not an integer"]
    if isinstance(hint, type):
        return [] if isinstance(value, hint) else [f"{where}: not {hint.__name__}"]
    return []
