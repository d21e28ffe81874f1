"""The channel-layer contract: group names, event shapes, and the publish helpers.

Only services call the publish helpers (after commit). A frame is JSON-encoded once here
and relayed verbatim by every consumer, never re-encoded per recipient.
"""

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.dispatch import Signal

from chat.ops import observability
from chat.selectors import MessageOut, ProfileOut, ReadState

logger = logging.getLogger(__name__)


class MessageEvent(TypedDict):
    type: Literal["chat.message"]  # dispatched to ChatConsumer.chat_message
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


def publish_on_commit(publish: Callable[[], None]) -> None:
    """Run a publish once the current transaction commits (at once outside one). The
    one way services publish: nobody sees a change that was rolled back, and a failed
    publish (robust) never undoes a saved one."""
    transaction.on_commit(publish, robust=True)


# Sent after commit with `items`: a list of NotifyItem, for messages someone may have to
# be notified of. The notify app listens (chat does not import it: one-way layers).
notify_requested = Signal()


class NotifyItem(TypedDict):
    message_id: int
    # Only these users (an edit's new mentions); None: whoever the levels ask for.
    users: list[int] | None


def notify_on_commit(items: list[NotifyItem]) -> None:
    """Ask for notifications about saved messages once the transaction commits."""
    if items:
        transaction.on_commit(lambda: notify_requested.send(None, items=items), robust=True)


def publish_message(room_id: int, message: MessageOut) -> None:
    """Send a saved message to every consumer of the room, on every process.

    Called from sync code (an on_commit hook). Delivery through the layer is best
    effort; consumers fill any gap from the database by seq.
    """
    publish_messages([(room_id, message)])


def publish_messages(messages: list[tuple[int, MessageOut]]) -> None:
    """publish_message for (room id, message) pairs, in the given order, as one event
    (a group commit's batch: one publish, not one per message)."""
    if not messages:
        return
    event: MessagesEvent = {
        "type": "chat.messages",
        "items": [[room_id, m["seq"], message_frame(m)] for room_id, m in messages],
    }
    _send(MESSAGES_GROUP, event, "message")


# Publishes made by a database thread inside `publishes_collected()`: sent afterwards by
# the event loop that asked for the work, so the database thread never waits on Redis.
_collector = threading.local()
Collected = list[tuple[str, object, str]]  # (group, event, what it is, for the log)


@contextmanager
def publishes_collected() -> Iterator[Collected]:
    """Collect, instead of send, the publishes made in this thread within the block
    (after commit, as always). The caller sends them with `send_collected`."""
    sink: Collected = []
    previous = getattr(_collector, "sink", None)
    _collector.sink = sink
    try:
        yield sink
    finally:
        _collector.sink = previous


async def send_collected(collected: Collected) -> None:
    """Send what `publishes_collected` gathered, in order, from the event loop."""
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is always configured in settings"  # noqa: S101
    for group, event, what in collected:
        try:
            await layer.group_send(group, event)
        except Exception as error:
            _publish_failed(what, error)


def _send(group: str, event: object, what: str) -> None:
    sink: Collected | None = getattr(_collector, "sink", None)
    if sink is not None:
        sink.append((group, event, what))
        return
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is always configured in settings"  # noqa: S101
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception as error:  # saved all the same: receivers catch up from the database
        _publish_failed(what, error)


def _publish_failed(what: str, error: Exception) -> None:
    observability.layer_failed("publish")
    logger.warning(
        "%s publish failed (%s: %s); receivers catch up from the database",
        what,
        type(error).__name__,
        error,
    )


async def publish_frame(room_id: int, frame: object, *, exclude_user: str = "") -> None:
    """Push a frame to every connection of the room (best effort, from async code)."""
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is always configured in settings"  # noqa: S101
    try:
        await layer.group_send(room_group(room_id), _frame_event(room_id, frame, exclude_user))
    except Exception as error:
        _publish_failed("frame", error)


def _frame_event(room_id: int, frame: object, exclude_user: str, after_seq: int = 0) -> FrameEvent:
    event: FrameEvent = {
        "type": "chat.frame",
        "room_id": room_id,
        "frame": encode(frame),
        "exclude_user": exclude_user,
    }
    if after_seq:
        event["after_seq"] = after_seq
    return event


def publish_room_frame(room_id: int, frame: object, *, after_seq: int = 0) -> None:
    """Sync form of publish_frame, for on_commit hooks in services. Through the room's
    group like its messages, so one publisher's frames and messages keep their order;
    `after_seq`: see FrameEvent."""
    _send(room_group(room_id), _frame_event(room_id, frame, "", after_seq), "frame")


def publish_kick(*, username: str, room_id: int | None, code: int) -> None:
    """Close the user's open connections (in one room, or all) on every process. If it
    is lost, the next action is refused anyway: access is checked on every one."""
    event: KickEvent = {"type": "chat.kick", "username": username, "room_id": room_id, "code": code}
    _send(CONTROL_GROUP, event, "kick")


def publish_counts(room_id: int, room: str, counts: dict[int, ReadState]) -> None:
    """Tell every connection of these users (every process) their new read state here."""
    if not counts:
        return
    event: CountsEvent = {
        "type": "chat.counts",
        "room_id": room_id,
        "room": room,
        "counts": {str(user_id): state for user_id, state in counts.items()},
    }
    _send(room_group(room_id), event, "counts")


def publish_membership(
    *,
    user_id: int,
    room_id: int,
    room: str,
    action: Literal["joined", "left"],
    reason: str = "",
) -> None:
    """Tell every all-rooms connection of the user (every process) it joined or left."""
    event: MembershipEvent = {
        "type": "chat.membership",
        "user_id": user_id,
        "room_id": room_id,
        "room": room,
        "action": action,
        "reason": reason,
    }
    _send(CONTROL_GROUP, event, "membership")


def publish_profile(profile: ProfileOut) -> None:
    """Tell every process a user's profile changed: their hubs forget the cached profile
    and send `user.updated` to the connections that show this user."""
    event: ProfileEvent = {"type": "chat.profile", "user": profile}
    _send(CONTROL_GROUP, event, "profile")


def publish_sessions_end(*, session_keys: list[str], code: int) -> None:
    """Close the sockets opened with these sessions (logged out, password changed,
    "log out other devices") on every process. If it is lost, the session is gone from
    the database all the same: a reconnect is refused."""
    if not session_keys:
        return
    event: SessionsEndEvent = {
        "type": "chat.sessions_end",
        "session_keys": list(session_keys),
        "code": code,
    }
    _send(CONTROL_GROUP, event, "sessions_end")


class UserFrameEvent(TypedDict):
    type: Literal["chat.user_frame"]
    user_id: int
    frame: str  # encoded


def publish_user_frame(user_id: int, frame: object) -> None:
    """Send a frame to every connection of one user, on every process (a setting changed
    on one device shows on all at once). If it is lost, the next hello carries it."""
    event: UserFrameEvent = {"type": "chat.user_frame", "user_id": user_id, "frame": encode(frame)}
    _send(CONTROL_GROUP, event, "user_frame")


def publish_session_renamed(*, old: str, new: str) -> None:
    """The session `old` lives on as `new` (Django cycles the key when the password is
    changed through it): its sockets stay open and are checked under the new key. If it
    is lost, the periodic session check closes them (4401) and the page reconnects."""
    event: SessionRenamedEvent = {"type": "chat.session_renamed", "old": old, "new": new}
    _send(CONTROL_GROUP, event, "session_renamed")
