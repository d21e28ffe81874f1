"""Read-side queries. They return plain typed data, never model instances, so callers
(consumers, views, events) cannot lazily hit the database later."""

from typing import Any, TypedDict

from django.conf import settings

from chat.models import Message, Room


class RoomOut(TypedDict):
    id: int
    slug: str
    name: str
    topic: str
    last_seq: int


class MessageOut(TypedDict):
    id: int
    room: str
    seq: int
    author: str
    body: str
    created_at: str
    client_id: str


def room_out(room: Room) -> RoomOut:
    return {
        "id": room.pk,
        "slug": room.slug,
        "name": room.name,
        "topic": room.topic,
        "last_seq": room.last_seq,
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
    }


def room_get(*, slug: str) -> RoomOut | None:
    room = Room.objects.filter(slug=slug).first()
    return room_out(room) if room is not None else None


def room_last_seqs(*, room_ids: list[int]) -> dict[int, int]:
    return dict(Room.objects.filter(pk__in=room_ids).values_list("pk", "last_seq"))


def room_list() -> list[RoomOut]:
    return [room_out(room) for room in Room.objects.order_by("name")]


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
    rows = Message.objects.filter(room_id=room_id)
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
)


def _message_row(row: tuple[Any, ...]) -> MessageOut:
    pk, slug, seq, author, body, created_at, client_id = row
    return {
        "id": pk,
        "room": slug,
        "seq": seq,
        "author": author,
        "body": body,
        "created_at": created_at.isoformat(),
        "client_id": client_id,
    }


def message_history(*, room_id: int, after: int | None, limit: int) -> HistoryOut:
    """What a connecting client is missing: the newest `limit` messages (after `after`
    when resuming), and the room's seq at the time of reading."""
    last_seq = Room.objects.filter(pk=room_id).values_list("last_seq", flat=True).first() or 0
    page = message_list(room_id=room_id, after=after, limit=limit + 1, newest=True)
    complete = after is not None and len(page) <= limit
    return {"messages": page[-limit:] if limit else [], "complete": complete, "last_seq": last_seq}
