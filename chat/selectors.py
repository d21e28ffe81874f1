"""Read-side queries. They return plain typed data, never model instances, so callers
(consumers, views, events) cannot lazily hit the database later."""

from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone

from chat.models import Membership, Message, Room, Sanction


class RoomOut(TypedDict):
    id: int
    slug: str
    name: str
    topic: str
    last_seq: int
    is_private: bool
    is_direct: bool
    is_locked: bool
    owner_id: int | None


class Access(TypedDict):
    read: bool
    write: bool
    code: str  # why not (an error code of docs/protocol.md), "" when writing is allowed
    detail: str


class MessageOut(TypedDict):
    id: int
    room: str
    seq: int
    author: str
    body: str
    created_at: str
    client_id: str
    edited_at: str | None


def room_out(room: Room) -> RoomOut:
    return {
        "id": room.pk,
        "slug": room.slug,
        "name": room.name,
        "topic": room.topic,
        "last_seq": room.last_seq,
        "is_private": room.is_private,
        "is_direct": room.is_direct,
        "is_locked": room.is_locked,
        "owner_id": room.created_by_id,
    }


def message_out(message: Message, *, room_slug: str, author: str) -> MessageOut:
    return {
        "id": message.pk,
        "room": room_slug,
        "seq": message.seq,
        "author": author,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        "client_id": message.client_id,
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
    }


def room_get(*, slug: str) -> RoomOut | None:
    room = Room.objects.filter(slug=slug).first()
    return room_out(room) if room is not None else None


def room_with_access(*, slug: str, user_id: int) -> tuple[RoomOut | None, Access]:
    room = room_get(slug=slug)
    if room is None:
        return None, _deny("not_found", "No such room.")
    return room, access_for(room_id=room["id"], user_id=user_id)


def room_members(*, room_id: int) -> list[str]:
    return list(
        Membership.objects.filter(room_id=room_id)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )


def room_last_seqs(*, room_ids: list[int]) -> dict[int, int]:
    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "last_seq"))


def room_list(*, user: User) -> list[RoomOut]:
    """Rooms the user may see: public ones and private ones they belong to (staff: all)."""
    rooms = Room.objects.order_by("is_direct", "name")
    if not user.is_staff:
        rooms = rooms.filter(Q(is_private=False) | Q(memberships__user=user)).distinct()
    return [room_out(room) for room in rooms]


def access_for(*, room_id: int, user_id: int) -> Access:
    """What the user may do in the room right now: read from the database on every
    call, so a ban, a removal or a deactivation counts from the next action on."""
    now = timezone.now()
    person = User.objects.filter(pk=user_id).values("is_active", "is_staff").first()
    room = Room.objects.filter(pk=room_id).values("is_private", "is_locked").first()
    if person is None or room is None or not person["is_active"]:
        return _deny("forbidden", "You have no access to this room.")
    staff = bool(person["is_staff"])
    if (
        room["is_private"]
        and not staff
        and not Membership.objects.filter(room_id=room_id, user_id=user_id).exists()
    ):
        return _deny("forbidden", "You have no access to this room.")
    kinds = set(
        Sanction.objects.filter(user_id=user_id, lifted_at__isnull=True)
        .filter(Q(room_id=room_id) | Q(room__isnull=True))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("kind", flat=True)
    )
    if Sanction.Kind.BAN in kinds:
        return _deny("banned", "You are banned from this room.")
    if Sanction.Kind.MUTE in kinds:
        return {"read": True, "write": False, "code": "muted", "detail": "You are muted here."}
    if room["is_locked"] and not staff:
        return {
            "read": True,
            "write": False,
            "code": "room_locked",
            "detail": "This room is locked: only staff can write.",
        }
    return {"read": True, "write": True, "code": "", "detail": ""}


def _deny(code: str, detail: str) -> Access:
    return {"read": False, "write": False, "code": code, "detail": detail}


class HistoryOut(TypedDict):
    messages: list[MessageOut]
    complete: bool  # False: there are messages after `after` older than messages[0]
    last_seq: int  # the room's committed seq when the history was read


def message_list(
    *,
    room_id: int,
    after: int | None = None,
    before: int | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> list[MessageOut]:
    """Messages of a room with after < seq < before, oldest first: the first `limit` of
    them, or with `newest` (or without `after`) the last `limit` of them."""
    if limit is None:
        limit = settings.CHAT_HISTORY_LIMIT
    rows = Message.objects.filter(room_id=room_id, deleted_at__isnull=True)
    if after is not None:
        rows = rows.filter(seq__gt=after)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    ordered = rows.order_by("seq" if after is not None and not newest else "-seq")
    # Plain tuples, not model instances: history is read on every connect.
    picked = list(ordered.values_list(*_MESSAGE_COLUMNS)[:limit])
    if ordered.query.order_by == ("-seq",):
        picked.reverse()
    return [_message_row(row) for row in picked]


_MESSAGE_COLUMNS = (
    "id",
    "room__slug",
    "seq",
    "author__username",
    "body",
    "created_at",
    "client_id",
    "edited_at",
)


def _message_row(row: tuple[Any, ...]) -> MessageOut:
    pk, slug, seq, author, body, created_at, client_id, edited_at = row
    return {
        "id": pk,
        "room": slug,
        "seq": seq,
        "author": author,
        "body": body,
        "created_at": created_at.isoformat(),
        "client_id": client_id,
        "edited_at": edited_at.isoformat() if edited_at else None,
    }


def message_history(*, room_id: int, after: int | None, limit: int) -> HistoryOut:
    """What a connecting client is missing: the newest `limit` messages (after `after`
    when resuming), and the room's seq at the time of reading."""
    last_seq = Room.objects.filter(pk=room_id).values_list("last_seq", flat=True).first() or 0
    page = message_list(room_id=room_id, after=after, limit=limit + 1, newest=True)
    complete = after is not None and len(page) <= limit
    return {"messages": page[-limit:] if limit else [], "complete": complete, "last_seq": last_seq}


def user_get(*, username: str, active_only: bool = False) -> User | None:
    """A user for a service to act on (member management, DMs)."""
    users = User.objects.filter(username=username)
    return (users.filter(is_active=True) if active_only else users).first()


def room_model(*, room_id: int) -> Room:
    """The Room row itself, for services that change it (they take model instances)."""
    return Room.objects.get(pk=room_id)
