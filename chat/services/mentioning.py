"""Who a message mentions, saved as Mention rows (what mention counts and notifications
read): members named as @username and the members online with @here; @room mentions
every member without rows.
The parsing rules are chat.content.mentions' (pure); this module applies them to a room."""

from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models.functions import Lower

from chat.content import mentions
from chat.errors import ChatError
from chat.models import Membership, Mention, Message, Room
from chat.presence.online import online_usernames
from chat.protocol.codes import ErrorCode


class Mentioned(NamedTuple):
    names: dict[str, int]  # members named as @username: username -> user id, in order
    group: str  # "room", "here" or ""
    # @here: who was online when the body was read (read before the saving transaction,
    # so no row lock is held while Redis answers).
    online: frozenset[str] = frozenset()


def mentions_find(*, room_id: int, author: User | None, body: str) -> Mentioned:
    """The mentions of a body about to be saved in a room, or ChatError when the author
    may not use @room there. No query for a body without an "@" (most messages). Call it
    before the saving transaction: @here reads presence (Redis) here."""
    if "@" not in body:
        return Mentioned({}, "")
    group = mentions.group_mention(body)
    if group == mentions.ROOM:
        _room_mention_check(room_id=room_id, author=author)
    online = frozenset(online_usernames(room_id)) if group == mentions.HERE else frozenset()
    return Mentioned(_named_members(room_id, body), group, online)


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
            ErrorCode.ROOM_MENTION_FORBIDDEN,
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
    """Save who the new message mentions. An @room message has no rows: it mentions
    every member, and read state counts it as such (selectors/reading.py), so its save
    costs the same in a room of 2,000 as in a room of 2. @here's rows are one INSERT …
    SELECT over the members online (a chunk per HERE_CHUNK names)."""
    if mentioned.group == mentions.ROOM:
        return
    named = list(mentioned.names.values())
    if mentioned.group != mentions.HERE:
        _rows_insert(message, named, [])
        return
    online = sorted(mentioned.online)
    for start in range(0, max(len(online), 1), HERE_CHUNK):
        _rows_insert(message, named if start == 0 else [], online[start : start + HERE_CHUNK])


# Usernames per statement: under SQLite's limit on a statement's parameters (32,766).
HERE_CHUNK = 5000


def _rows_insert(message: Message, named: list[int], online: list[str]) -> None:
    """Mention rows for the members named (by id) and the members online (by username,
    never the author), in one statement; a row already there is kept."""
    if not named and not online:
        return
    q = connection.ops.quote_name
    mention, member, user = (
        q(Mention._meta.db_table),
        q(Membership._meta.db_table),
        q(User._meta.db_table),
    )
    wanted: list[str] = []
    params: list[int | str] = [message.pk, message.seq, message.room_id]
    if named:
        wanted.append(f"mb.user_id IN ({', '.join(['%s'] * len(named))})")
        params.extend(named)
    if online:
        wanted.append(f"(u.username IN ({', '.join(['%s'] * len(online))}) AND mb.user_id <> %s)")
        params.extend(online)
        params.append(message.author_id if message.author_id is not None else 0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {mention} (message_id, user_id, room_id, seq)"  # noqa: S608 - table names from the models
            f" SELECT %s, mb.user_id, mb.room_id, %s FROM {member} mb"
            f" JOIN {user} u ON u.id = mb.user_id"
            f" WHERE mb.room_id = %s AND ({' OR '.join(wanted)})"
            " ON CONFLICT DO NOTHING",
            params,
        )


def mention_ids(message: Message, mentioned: Mentioned) -> set[int]:
    """The Mention rows the body calls for (an edit compares them with the stored ones):
    none for @room, which is counted without rows."""
    if mentioned.group == mentions.ROOM:
        return set()
    ids = set(mentioned.names.values())
    if mentioned.group == mentions.HERE:
        ids.update(_here_ids(message, mentioned.online))
    return ids


def _here_ids(message: Message, online: frozenset[str]) -> list[int]:
    if not online:
        return []
    members = Membership.objects.filter(room_id=message.room_id, user__username__in=online)
    if message.author_id is not None:
        members = members.exclude(user_id=message.author_id)
    return list(members.values_list("user_id", flat=True))
