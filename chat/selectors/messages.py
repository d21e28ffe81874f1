"""Messages: the message object every transport sends, history pages, resume
backlogs. The hot reads are hand-written SQL (one query each)."""

import json
from datetime import UTC, datetime
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Profile
from accounts.selectors import ProfileOut as ProfileOut  # re-exported: events, consumers
from accounts.selectors import avatar_url
from accounts.selectors import user_profile as user_profile  # re-exported: hello.user
from chat.models import Attachment, Message, Room
from chat.selectors.reactions import ReactionOut, reactions_for
from chat.selectors.rooms import Access, access_for, room_last_seqs


class AttachmentOut(TypedDict):
    id: int
    kind: str  # "image" (decoded, re-encoded, a thumbnail) or "file" (download only)
    url: str  # served only to users who may read the room
    thumbnail_url: str | None  # None for a file
    name: str
    content_type: str
    size: int
    width: int
    height: int
    thumbnail_width: int
    thumbnail_height: int


class ReplyOut(TypedDict):
    """The message a reply answers. Once that one is deleted or hidden: deleted True,
    author None and excerpt "" (never its text)."""

    id: int
    seq: int
    author: str | None  # None: a system message, or deleted
    excerpt: str  # the start of its body, plain text on one line
    deleted: bool


REPLY_EXCERPT_CHARS = 100


class MessageOut(TypedDict):
    id: int
    room: str
    seq: int
    author: str | None  # None only for kind "system"
    author_display_name: str | None  # the author's display name (or username); None: system
    author_avatar: str | None  # URL of the author's avatar; None: system
    body: str
    html: str  # the body rendered (chat/content/rendering.py's allow-list); "" for an empty body
    reply_to: ReplyOut | None
    created_at: str
    client_id: str
    edited_at: str | None
    kind: str  # "user" or "system"
    attachment: AttachmentOut | None
    mentions: list[str]  # members named as @username (docs/protocol.md, Read state)
    group_mention: str | None  # "room" (@room: every member), "here" (@here), or None
    # Per emoji, first used first; `me` is the reader's own only where one reader asked
    # (hello, history, the API), False in frames every connection shares.
    reactions: list[ReactionOut]


def message_out(
    message: Message,
    *,
    room_slug: str,
    author: str | None,
    attachment: Attachment | None = None,
    reactions: list[ReactionOut] | None = None,
) -> MessageOut:
    # The author's profile from the per-process cache (accounts.selectors.user_profile):
    # this runs for every message saved, and the callers pass only the username.
    profile = user_profile(message.author_id) if message.author_id is not None else None
    return {
        "id": message.pk,
        "room": room_slug,
        "seq": message.seq,
        "author": author,
        "author_display_name": profile["display_name"] if profile is not None else None,
        "author_avatar": profile["avatar"] if profile is not None else None,
        "body": message.body,
        "html": message.html,
        # The caller loaded reply_to with the message (select_related, or the object it
        # checked): no query here.
        "reply_to": reply_out(message.reply_to) if message.reply_to_id is not None else None,
        "created_at": message.created_at.isoformat(),
        "client_id": message.client_id,
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "kind": str(message.kind),
        "attachment": attachment_out(attachment) if attachment is not None else None,
        "mentions": list(message.mentions),
        "group_mention": message.group_mention or None,
        "reactions": reactions or [],
    }


def reply_out(original: Message | None) -> ReplyOut | None:
    if original is None:
        return None
    author = original.author.get_username() if original.author is not None else None
    return _reply(original.pk, original.seq, author, original.body, original.deleted_at)


def _reply(pk: int, seq: int, author: str | None, body: str, deleted: object) -> ReplyOut:
    if deleted is not None:
        return {"id": pk, "seq": seq, "author": None, "excerpt": "", "deleted": True}
    return {"id": pk, "seq": seq, "author": author, "excerpt": excerpt(body), "deleted": False}


def excerpt(body: str) -> str:
    """The start of a body on one line, at most REPLY_EXCERPT_CHARS characters."""
    line = " ".join(body[: REPLY_EXCERPT_CHARS * 4].split())
    if len(line) <= REPLY_EXCERPT_CHARS:
        return line
    return line[: REPLY_EXCERPT_CHARS - 1].rstrip() + "…"


def attachment_out(attachment: Attachment) -> AttachmentOut:
    return _attachment(
        attachment.pk,
        attachment.name,
        attachment.content_type,
        attachment.size,
        attachment.width,
        attachment.height,
        attachment.thumbnail_width,
        attachment.thumbnail_height,
        kind=attachment.kind,
    )


def _attachment(
    pk: int, name: str, content_type: str, size: int, *dims: int, kind: str
) -> AttachmentOut:
    width, height, thumbnail_width, thumbnail_height = dims
    image = kind == Attachment.Kind.IMAGE
    return {
        "id": pk,
        "kind": kind,
        "url": reverse("api:attachment", args=[pk]),
        "thumbnail_url": reverse("api:attachment_thumbnail", args=[pk]) if image else None,
        "name": name,
        "content_type": content_type,
        "size": size,
        "width": width,
        "height": height,
        "thumbnail_width": thumbnail_width,
        "thumbnail_height": thumbnail_height,
    }


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
    reader_id: int | None = None,
) -> list[MessageOut]:
    """Messages of a room with after < seq < before, oldest first: the first `limit` of
    them, or with `newest` (or without `after`) the last `limit` of them. Reactions'
    `me` is for `reader_id` (None: False, for frames every connection shares)."""
    if limit is None:
        limit = settings.CHAT_HISTORY_LIMIT
    # Read on every connect and every gap fill, on the single database thread: one
    # hand-written query, because building the ORM's four joins cost ~1.5 ms a call,
    # far more than running it. Only fixed SQL fragments are joined; values are params.
    where = ["m.room_id = %(room)s", "m.deleted_at IS NULL"]
    if after is not None:
        where.append("m.seq > %(after)s")
    if before is not None:
        where.append("m.seq < %(before)s")
    oldest_first = after is not None and not newest
    sql = (
        f"{_MESSAGE_SELECT} WHERE {' AND '.join(where)}"
        f" ORDER BY m.seq {'ASC' if oldest_first else 'DESC'} LIMIT %(limit)s"
    )
    params = {"room": room_id, "after": after, "before": before, "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        picked = cursor.fetchall()
    if not oldest_first:
        picked.reverse()
    return _with_reactions([_message_row(row) for row in picked], reader_id)


def _with_reactions(messages: list[MessageOut], reader_id: int | None) -> list[MessageOut]:
    # One more query for the whole page (not one per message).
    found = reactions_for([message["id"] for message in messages], reader_id=reader_id)
    for message in messages:
        message["reactions"] = found.get(message["id"], [])
    return messages


def _message_select() -> str:
    q = connection.ops.quote_name
    message, room, user = (
        q(Message._meta.db_table),
        q(Room._meta.db_table),
        q(User._meta.db_table),
    )
    attachment, profile = q(Attachment._meta.db_table), q(Profile._meta.db_table)
    return (
        "SELECT m.id, r.slug, m.seq, u.username, m.body, m.created_at, m.client_id,"  # noqa: S608
        " m.edited_at, m.kind, a.id, a.name, a.content_type, a.size, a.width, a.height,"
        " a.thumbnail_width, a.thumbnail_height, m.mentions, p.display_name, p.version,"
        " m.group_mention, a.kind"
        # Last, read from the end of the row (_rich): the html, and what a reply answers.
        f", m.html, o.id, o.seq, ou.username, SUBSTR(o.body, 1, {REPLY_EXCERPT_CHARS * 4}),"
        " o.deleted_at"
        f" FROM {message} m JOIN {room} r ON r.id = m.room_id"
        f" LEFT JOIN {user} u ON u.id = m.author_id"  # system messages have no author
        f" LEFT JOIN {attachment} a ON a.message_id = m.id"
        f" LEFT JOIN {profile} p ON p.user_id = m.author_id"  # no row: the defaults
        f" LEFT JOIN {message} o ON o.id = m.reply_to_id"  # a reply's original, in the join
        f" LEFT JOIN {user} ou ON ou.id = o.author_id"
    )


_MESSAGE_SELECT = _message_select()


def _aware(value: datetime | str) -> datetime:
    # PostgreSQL returns aware datetimes; SQLite returns the stored text (naive UTC).
    found = parse_datetime(value) if isinstance(value, str) else value
    if found is None:
        raise ValueError(f"not a datetime: {value!r}")
    return found if timezone.is_aware(found) else timezone.make_aware(found, UTC)


def _message_row(row: tuple[Any, ...]) -> MessageOut:
    pk, slug, seq, author, body, created_at, client_id, edited_at, kind = row[:9]
    attachment_id, *attachment_rest = row[9:17]
    mentions, display_name, profile_version, group_mention = row[17:21]
    return {
        "id": pk,
        "room": slug,
        "seq": seq,
        "author": author,
        "author_display_name": (display_name or author) if author is not None else None,
        "author_avatar": avatar_url(author, profile_version or 0) if author is not None else None,
        "body": body,
        **_rich(row[-_RICH_COLUMNS:]),
        "created_at": _aware(created_at).isoformat(),
        "client_id": client_id,
        "edited_at": _aware(edited_at).isoformat() if edited_at else None,
        "kind": kind,
        "attachment": (
            _attachment(attachment_id, *attachment_rest, kind=row[21]) if attachment_id else None
        ),
        # PostgreSQL's driver decodes JSON columns; SQLite hands back the text.
        "mentions": json.loads(mentions) if isinstance(mentions, str) else list(mentions or []),
        "group_mention": group_mention or None,
        "reactions": [],  # filled by _with_reactions
    }


_RICH_COLUMNS = 6


class _Rich(TypedDict):
    html: str
    reply_to: ReplyOut | None


def _rich(tail: tuple[Any, ...]) -> _Rich:
    html, reply_id, reply_seq, reply_author, reply_body, reply_deleted = tail
    reply = None
    if reply_id is not None:
        reply = _reply(reply_id, reply_seq, reply_author, reply_body or "", reply_deleted)
    return {"html": html, "reply_to": reply}


def message_history(
    *, room_id: int, after: int | None, limit: int, reader_id: int | None = None
) -> HistoryOut:
    """What a connecting client is missing: the newest `limit` messages (after `after`
    when resuming), and the room's seq at the time of reading."""
    table = connection.ops.quote_name(Room._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_seq FROM {table} WHERE id = %s", [room_id])  # noqa: S608
        row = cursor.fetchone()
    last_seq = int(row[0]) if row is not None else 0
    page = message_list(
        room_id=room_id, after=after, limit=limit + 1, newest=True, reader_id=reader_id
    )
    complete = after is not None and len(page) <= limit
    return {"messages": page[-limit:] if limit else [], "complete": complete, "last_seq": last_seq}


def attachment_file(*, attachment_id: int, user_id: int) -> tuple[Attachment, Access] | None:
    """An attachment of a message that is not deleted, and the user's access to its
    room (None: no such attachment)."""
    found = (
        Attachment.objects.select_related("message")
        .filter(pk=attachment_id, message__deleted_at__isnull=True)
        .first()
    )
    if found is None:
        return None
    return found, access_for(room_id=found.message.room_id, user_id=user_id)


def message_backlogs(
    *, after: dict[int, int], limit: int, reader_id: int | None = None
) -> dict[int, HistoryOut]:
    """message_history(after=...) for many rooms at once: three queries in all (the
    rooms' seqs, the newest `limit` + 1 messages after each room's seq, their reactions)."""
    if not after:
        return {}
    last_seqs = room_last_seqs(room_ids=list(after))
    pairs = [(room_id, seq) for room_id, seq in after.items() if room_id in last_seqs]
    picked: dict[int, list[MessageOut]] = {room_id: [] for room_id, _ in pairs}
    if pairs:
        params: dict[str, Any] = {"keep": limit + 1}
        clauses = []
        for index, (room_id, seq) in enumerate(pairs):
            clauses.append(f"(m.room_id = %(r{index})s AND m.seq > %(s{index})s)")
            params[f"r{index}"], params[f"s{index}"] = room_id, seq
        # The newest limit + 1 per room (ROW_NUMBER: PostgreSQL, SQLite >= 3.25); one
        # more than asked tells whether the backlog is complete.
        numbered = _MESSAGE_SELECT.replace(
            "SELECT ",
            "SELECT ROW_NUMBER() OVER (PARTITION BY m.room_id ORDER BY m.seq DESC) AS rn,"
            " m.room_id, ",
            1,
        )
        sql = (
            f"SELECT * FROM ({numbered}"  # noqa: S608 - fixed fragments; values are parameters
            f" WHERE m.deleted_at IS NULL AND ({' OR '.join(clauses)})"
            ") backlog WHERE rn <= %(keep)s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for row in cursor.fetchall():
                picked[int(row[1])].append(_message_row(row[2:]))
    _with_reactions([m for messages in picked.values() for m in messages], reader_id)
    out: dict[int, HistoryOut] = {}
    for room_id, messages in picked.items():
        messages.sort(key=lambda message: message["seq"])
        out[room_id] = {
            "messages": messages[-limit:] if limit else [],
            "complete": len(messages) <= limit,
            "last_seq": last_seqs[room_id],
        }
    return out


def message_list_by_ids(*, ids: list[int], reader_id: int | None = None) -> list[MessageOut]:
    """These messages (not deleted ones), in the order of `ids`: search results."""
    if not ids:
        return []
    names = ", ".join(f"%(i{index})s" for index in range(len(ids)))
    params: dict[str, Any] = {f"i{index}": pk for index, pk in enumerate(ids)}
    sql = f"{_MESSAGE_SELECT} WHERE m.id IN ({names}) AND m.deleted_at IS NULL"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {row[0]: _message_row(row) for row in cursor.fetchall()}
    return _with_reactions([found[pk] for pk in ids if pk in found], reader_id)


def message_around(
    *, room_id: int, seq: int, limit: int, reader_id: int | None = None
) -> list[MessageOut]:
    """Up to `limit` messages around `seq`, oldest first: half of them up to and
    including `seq`, the rest after it; near either end of the room, more of the other
    side."""
    half = (limit + 1) // 2
    older = message_list(room_id=room_id, before=seq + 1, limit=half, reader_id=reader_id)
    newer = message_list(room_id=room_id, after=seq, limit=limit - len(older), reader_id=reader_id)
    short = limit - len(older) - len(newer)
    if short > 0 and len(older) == half:
        more = message_list(
            room_id=room_id, before=older[0]["seq"], limit=short, reader_id=reader_id
        )
        older = more + older
    return older + newer
