"""The channel-layer contract: group names, the events every process's hub receives, and
their constructors. Pure data: building an event sends nothing (chat/events/publish.py
sends), and nothing here touches the database.

Every event a service publishes is built here as a `Publication` (its group, the event,
a short name for logs), so an event's shape is declared once and checked by its type.
"""

import json
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

from chat.selectors import MessageOut, ProfileOut, ReadState, ThreadState


class MessageEvent(TypedDict):
    """One message on its room's group: what processes of the previous version publish
    (still handled during a rolling upgrade); this version publishes MessagesEvent."""

    type: Literal["chat.message"]
    room_id: int
    seq: int
    frame: str  # the ready-to-send {"type": "message", ...} text frame


class MessagesEvent(TypedDict):
    """The messages one commit saved, for every process at once (on MESSAGES_GROUP):
    one publish, and one receipt per process, per batch instead of per message."""

    type: Literal["chat.messages"]
    # (room id, seq, frame) in publish order: seq order within each room. Lists, not
    # tuples: what msgpack hands back through Redis.
    items: list[list[int | str]]


class FrameEvent(TypedDict):
    type: Literal["chat.frame"]  # presence, typing: pushed as is, not part of the seq stream
    room_id: int
    frame: str
    exclude_user: str  # connections of this user skip it ("" for none)
    # A reaction: its message's seq. Each connection writes the frame only once it has
    # written that message, so a reaction never comes before what it is about.
    after_seq: NotRequired[int]


class KickEvent(TypedDict):
    type: Literal["chat.kick"]  # close a user's connections (one room, or every room)
    username: str
    room_id: int | None
    code: int


class CountsEvent(TypedDict):
    type: Literal["chat.counts"]  # read state changed for these users in this room
    room_id: int
    room: str  # slug
    counts: dict[str, ReadState]  # str(user_id) -> the body of their room.read frame


class MembershipEvent(TypedDict):
    type: Literal["chat.membership"]  # a user joined or left a room (on CONTROL_GROUP)
    user_id: int
    room_id: int
    room: str  # slug
    action: Literal["joined", "left"]
    reason: str  # "" when joined; "left", "removed" or "banned" when left


class ProfileEvent(TypedDict):
    type: Literal["chat.profile"]  # a user's display name or avatar changed (CONTROL_GROUP)
    user: ProfileOut  # relayed to clients as {"type": "user.updated", "user": ...}


class SessionsEndEvent(TypedDict):
    type: Literal["chat.sessions_end"]  # these sessions ended: close their sockets
    session_keys: list[str]
    code: int


class SessionRenamedEvent(TypedDict):
    type: Literal["chat.session_renamed"]  # a session got a new key (password change)
    old: str
    new: str


class UserFrameEvent(TypedDict):
    type: Literal["chat.user_frame"]  # a frame for every connection of one user
    user_id: int
    frame: str  # encoded


class ThreadStatesEvent(TypedDict):
    type: Literal["chat.thread_states"]  # users' places in threads changed (CONTROL_GROUP)
    # str(user_id) -> their new states, in order. Each process adds the user's totals
    # (hello's `threads`) and sends thread.state to their connections there.
    states: dict[str, list[ThreadState]]


Event = (
    MessageEvent
    | MessagesEvent
    | FrameEvent
    | KickEvent
    | CountsEvent
    | MembershipEvent
    | ProfileEvent
    | SessionsEndEvent
    | SessionRenamedEvent
    | UserFrameEvent
    | ThreadStatesEvent
)

# Every event type a hub handles, with its TypedDict: tests/test_events.py round-trips
# each through the layer's serialisation and fails on a type added without one here.
EVENT_TYPES: dict[str, type] = {
    "chat.message": MessageEvent,
    "chat.messages": MessagesEvent,
    "chat.frame": FrameEvent,
    "chat.kick": KickEvent,
    "chat.counts": CountsEvent,
    "chat.membership": MembershipEvent,
    "chat.profile": ProfileEvent,
    "chat.sessions_end": SessionsEndEvent,
    "chat.session_renamed": SessionRenamedEvent,
    "chat.user_frame": UserFrameEvent,
    "chat.thread_states": ThreadStatesEvent,
}

CONTROL_GROUP = "chat.control"  # every process's hub listens here
# Every process's hub listens here too, from its start: new messages of every room.
# A hub drops those of rooms it has no connection in (a dictionary lookup); with the
# handful of processes a team runs, that costs less than a publish per message.
MESSAGES_GROUP = "chat.messages"


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def encode(frame: object) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def message_frame(message: MessageOut) -> str:
    return encode({"type": "message", "room": message["room"], "message": message})


@dataclass(frozen=True, slots=True)
class Publication:
    """An event addressed to a group: what `publish_on_commit` takes."""

    group: str
    event: Event
    what: str  # a short name for the log line of a failed publish


def messages_saved(messages: list[tuple[int, MessageOut]]) -> Publication:
    """New messages, (room id, message) in seq order per room, as one event for every
    process (a group commit's batch: one publish, not one per message)."""
    event: MessagesEvent = {
        "type": "chat.messages",
        "items": [[room_id, m["seq"], message_frame(m)] for room_id, m in messages],
    }
    return Publication(MESSAGES_GROUP, event, "message")


def room_frame(
    room_id: int, frame: object, *, exclude_user: str = "", after_seq: int = 0
) -> Publication:
    """A frame for every connection of the room. Through the room's group like its other
    events, so one publisher's frames keep their order; `after_seq`: see FrameEvent."""
    event: FrameEvent = {
        "type": "chat.frame",
        "room_id": room_id,
        "frame": encode(frame),
        "exclude_user": exclude_user,
    }
    if after_seq:
        event["after_seq"] = after_seq
    return Publication(room_group(room_id), event, "frame")


def kick(*, username: str, room_id: int | None, code: int) -> Publication:
    """Close the user's open connections (in one room, or all) on every process. If it
    is lost, the next action is refused anyway: access is checked on every one."""
    event: KickEvent = {"type": "chat.kick", "username": username, "room_id": room_id, "code": code}
    return Publication(CONTROL_GROUP, event, "kick")


def counts(room_id: int, room: str, states: dict[int, ReadState]) -> Publication:
    """Tell every connection of these users (every process) their new read state here."""
    event: CountsEvent = {
        "type": "chat.counts",
        "room_id": room_id,
        "room": room,
        "counts": {str(user_id): state for user_id, state in states.items()},
    }
    return Publication(room_group(room_id), event, "counts")


def membership(
    *,
    user_id: int,
    room_id: int,
    room: str,
    action: Literal["joined", "left"],
    reason: str = "",
) -> Publication:
    """Tell every all-rooms connection of the user (every process) it joined or left."""
    event: MembershipEvent = {
        "type": "chat.membership",
        "user_id": user_id,
        "room_id": room_id,
        "room": room,
        "action": action,
        "reason": reason,
    }
    return Publication(CONTROL_GROUP, event, "membership")


def profile(user: ProfileOut) -> Publication:
    """Tell every process a user's profile changed: their hubs forget the cached profile
    and send `user.updated` to the connections that show this user."""
    event: ProfileEvent = {"type": "chat.profile", "user": user}
    return Publication(CONTROL_GROUP, event, "profile")


def sessions_end(*, session_keys: list[str], code: int) -> Publication:
    """Close the sockets opened with these sessions (logged out, password changed,
    "log out other devices") on every process. If it is lost, the session is gone from
    the database all the same: a reconnect is refused."""
    event: SessionsEndEvent = {
        "type": "chat.sessions_end",
        "session_keys": list(session_keys),
        "code": code,
    }
    return Publication(CONTROL_GROUP, event, "sessions_end")


def session_renamed(*, old: str, new: str) -> Publication:
    """The session `old` lives on as `new` (Django cycles the key when the password is
    changed through it): its sockets stay open and are checked under the new key. If it
    is lost, the periodic session check closes them (4401) and the page reconnects."""
    event: SessionRenamedEvent = {"type": "chat.session_renamed", "old": old, "new": new}
    return Publication(CONTROL_GROUP, event, "session_renamed")


def user_frame(user_id: int, frame: object) -> Publication:
    """A frame for every connection of one user, on every process (a setting changed on
    one device shows on all at once). If it is lost, the next hello carries it."""
    event: UserFrameEvent = {"type": "chat.user_frame", "user_id": user_id, "frame": encode(frame)}
    return Publication(CONTROL_GROUP, event, "user_frame")


def thread_states(states: dict[int, list[ThreadState]]) -> Publication:
    """Users' new states in threads, one publish for all (a reply changes the counts of
    each follower). The totals are read where the users are connected, off the saving
    transaction. If it is lost, the next hello and the next thread.state carry them."""
    event: ThreadStatesEvent = {
        "type": "chat.thread_states",
        "states": {str(user_id): items for user_id, items in states.items()},
    }
    return Publication(CONTROL_GROUP, event, "thread_states")
