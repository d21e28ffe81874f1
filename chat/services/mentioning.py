"""Who a message mentions, saved as Mention rows (what mention counts and notifications
read): members named as @username and the members online with @here; @room mentions
every member without rows.
The parsing rules are chat.mentions' (pure); this module applies them to a room."""

from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models.functions import Lower

from chat import mentions, presence
from chat.errors import ChatError
from chat.models import Membership, Mention, Message, Room


class Mentioned(NamedTuple):
    names: dict[str, int]  # members named as @username: username -> user id, in order
    group: str  # "room", "here" or ""


def mentions_find(*, room_id: int, author: User | None, body: str) -> Mentioned:
    """The mentions of a body about to be saved in a room, or ChatError when the author
    may not use @room there. No query for a body without an "@" (most messages)."""
    if "@" not in body:
        return Mentioned({}, "")
    group = mentions.group_mention(body)
    if group == mentions.ROOM:
        _room_mention_check(room_id=room_id, author=author)
    return Mentioned(_named_members(room_id, body), group)


def _room_mention_check(*, room_id: int, author: User | None) -> None:
    # The server's own messages (author None) and staff may always; the owner too.
    if author is None or author.is_staff:
        return
    owner = Room.objects.filter(pk=room_id).values_list("created_by_id", flat=True).first()
    if owner == author.pk:
        return
    limit = settings.CHAT_ROOM_MENTION_MAX_MEMBERS
    if Membership.objects.filter(room_id=room_id).count() > limit:
        raise ChatError(
            "room_mention_forbidden",
            f"@room in a room of more than {limit} members is for its owner and staff: "
            "mention people by name, or use @here for those online.",
        )


def _named_members(room_id: int, body: str) -> dict[str, int]:
    candidates = mentions.mention_candidates(body)
    if not candidates:
        return {}
    found = (
        Membership.objects.filter(room_id=room_id)
        .annotate(name=Lower("user__username"))
        .filter(name__in=candidates)
        .values_list("user__username", "user_id")
    )
    ids = dict(found)
    return {name: ids[name] for name in mentions.mentions_resolve(body, mentions.lowered(ids))}


def mention_rows_add(message: Message, mentioned: Mentioned) -> None:
    """Save who the new message mentions, in one statement at most. An @room message has
    no rows: it mentions every member, and read state counts it as such (selectors/
    reading.py), so its save costs the same in a room of 2,000 as in a room of 2."""
    if mentioned.group == mentions.ROOM:
        return
    ids = list(mentioned.names.values())
    if mentioned.group == mentions.HERE:
        ids.extend(_here_ids(message))
    Mention.objects.bulk_create(
        [
            Mention(message=message, user_id=user_id, room_id=message.room_id, seq=message.seq)
            for user_id in dict.fromkeys(ids)
        ],
        ignore_conflicts=True,
    )


def mention_ids(message: Message, mentioned: Mentioned) -> set[int]:
    """The Mention rows the body calls for (an edit compares them with the stored ones):
    none for @room, which is counted without rows."""
    if mentioned.group == mentions.ROOM:
        return set()
    ids = set(mentioned.names.values())
    if mentioned.group == mentions.HERE:
        ids.update(_here_ids(message))
    return ids


def _here_ids(message: Message) -> list[int]:
    online = presence.online_usernames(message.room_id)
    if not online:
        return []
    members = Membership.objects.filter(room_id=message.room_id, user__username__in=online)
    if message.author_id is not None:
        members = members.exclude(user_id=message.author_id)
    return list(members.values_list("user_id", flat=True))
