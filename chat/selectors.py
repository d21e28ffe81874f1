"""Read-side queries. They return plain typed data, never model instances, so callers
(consumers, views, events) cannot lazily hit the database later."""

from typing import TypedDict

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


def room_list() -> list[RoomOut]:
    return [room_out(room) for room in Room.objects.order_by("name")]


def message_list(
    *,
    room_id: int,
    after: int | None = None,
    before: int | None = None,
    limit: int | None = None,
) -> list[MessageOut]:
    """Messages of a room, oldest first.

    With `after`, the first `limit` messages with a greater seq; otherwise the newest
    `limit` messages (with a seq below `before` when given).
    """
    if limit is None:
        limit = settings.CHAT_HISTORY_LIMIT
    rows = Message.objects.filter(room_id=room_id).select_related("room", "author")
    if after is not None:
        picked = list(rows.filter(seq__gt=after).order_by("seq")[:limit])
    else:
        if before is not None:
            rows = rows.filter(seq__lt=before)
        picked = list(rows.order_by("-seq")[:limit])
        picked.reverse()
    return [message_out(m, room_slug=m.room.slug, author=m.author.get_username()) for m in picked]
