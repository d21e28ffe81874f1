"""The message object's shape and how it is read: the TypedDicts every transport sends,
and the one hand-written SELECT (with its row decoder) that history, resume, search and
threads share."""

import json
from datetime import UTC, datetime
from typing import Any, TypedDict

from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Profile
from accounts.selectors import avatar_url
from chat.models import Attachment, Message, Room, Thread
from chat.selectors.reactions import ReactionOut


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


class ThreadSummary(TypedDict):
    """What the room shows under a thread's root (docs/protocol.md, "Threads")."""

    replies: int  # visible replies
    last_reply_at: str | None
    participants: list[str]  # the latest repliers, most recent first, at most 5
    last_seq: int  # the newest visible reply's seq


class MessageOut(TypedDict):
    id: int
    room: str
    seq: int
    author: str | None  # None only for kind "system"
    author_display_name: str | None  # the author's display name (or username); None: system
    author_avatar: str | None  # URL of the author's avatar; None: system
    author_bot: bool  # a bot's message (the page shows a BOT badge)
    # A bot's message shown with an emoji for its avatar (a hook's icon_emoji), else None.
    author_icon_emoji: str | None
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
    thread: int | None  # a reply in a thread: its root's id
    also_to_room: bool  # a thread reply that shows in the room's timeline too
    thread_summary: ThreadSummary | None  # a root with replies (None: none yet)
    # Only a thread's root deleted after its replies came stays in the timeline, as
    # "deleted" with no content, so its thread can still be opened.
    deleted: bool


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


def _message_select() -> str:
    q = connection.ops.quote_name
    message, room, user = (
        q(Message._meta.db_table),
        q(Room._meta.db_table),
        q(User._meta.db_table),
    )
    attachment, profile = q(Attachment._meta.db_table), q(Profile._meta.db_table)
    thread = q(Thread._meta.db_table)
    # A root's summary in scalar subqueries (a primary-key probe each), not an eighth
    # joined table: with the join PostgreSQL spent ~8 ms more planning every read (10
    # against 2.4 ms for a room's page), far more than running it (0.5 ms).
    summary = ", ".join(
        f"(SELECT t.{column} FROM {thread} t WHERE t.root_id = m.id)"  # noqa: S608
        for column in ("replies", "last_reply_at", "participants", "last_seq")
    )
    return (
        "SELECT m.id, r.slug, m.seq, u.username, m.body, m.created_at, m.client_id,"  # noqa: S608
        " m.edited_at, m.kind, a.id, a.name, a.content_type, a.size, a.width, a.height,"
        " a.thumbnail_width, a.thumbnail_height, m.mentions, p.display_name, p.version,"
        " m.group_mention, a.kind, p.is_bot, m.as_name, m.as_avatar, m.as_emoji"
        # Last, read from the end of the row (_rich): the html, what a reply answers, and
        # the thread's fields.
        f", m.html, o.id, o.seq, ou.username, SUBSTR(o.body, 1, {REPLY_EXCERPT_CHARS * 4}),"
        f" o.deleted_at, m.thread_id, m.also_to_room, m.deleted_at, {summary}"
        f" FROM {message} m JOIN {room} r ON r.id = m.room_id"
        f" LEFT JOIN {user} u ON u.id = m.author_id"  # system messages have no author
        f" LEFT JOIN {attachment} a ON a.message_id = m.id"
        f" LEFT JOIN {profile} p ON p.user_id = m.author_id"  # no row: the defaults
        f" LEFT JOIN {message} o ON o.id = m.reply_to_id"  # a reply's original, in the join
        f" LEFT JOIN {user} ou ON ou.id = o.author_id"
    )


_MESSAGE_SELECT = _message_select()


def aware(value: datetime | str) -> datetime:
    # PostgreSQL returns aware datetimes; SQLite returns the stored text (naive UTC).
    found = parse_datetime(value) if isinstance(value, str) else value
    if found is None:
        raise ValueError(f"not a datetime: {value!r}")
    return found if timezone.is_aware(found) else timezone.make_aware(found, UTC)


def _message_row(row: tuple[Any, ...]) -> MessageOut:
    pk, slug, seq, author, body, created_at, client_id, edited_at, kind = row[:9]
    attachment_id, *attachment_rest = row[9:17]
    mentions, display_name, profile_version, group_mention = row[17:21]
    bot, as_name, as_avatar, as_emoji = row[22:26]
    message: MessageOut = {
        "id": pk,
        "room": slug,
        "seq": seq,
        "author": author,
        **author_look(author, display_name, profile_version, bool(bot), as_name, as_avatar),
        "author_icon_emoji": as_emoji or None,
        "body": body,
        **_rich(row[-_RICH_COLUMNS:]),
        "created_at": aware(created_at).isoformat(),
        "client_id": client_id,
        "edited_at": aware(edited_at).isoformat() if edited_at else None,
        "kind": kind,
        "attachment": (
            _attachment(attachment_id, *attachment_rest, kind=row[21]) if attachment_id else None
        ),
        # PostgreSQL's driver decodes JSON columns; SQLite hands back the text.
        "mentions": json.loads(mentions) if isinstance(mentions, str) else list(mentions or []),
        "group_mention": group_mention or None,
        "reactions": [],  # filled by _with_reactions
    }
    return deleted_root(message) if message["deleted"] else message


_RICH_COLUMNS = 13


class AuthorLook(TypedDict):
    author_display_name: str | None
    author_avatar: str | None
    author_bot: bool


def author_look(
    author: str | None,
    display_name: str | None,
    version: int | None,
    bot: bool,
    as_name: str | None,
    as_avatar: str | None,
) -> AuthorLook:
    """How a message's author shows: the profile, or for a bot's message the name and
    avatar it was posted with (a hook's `username`/`icon_url`), the badge kept."""
    if author is None:
        return {"author_display_name": None, "author_avatar": None, "author_bot": False}
    own_avatar = avatar_url(author, version or 0)
    if not bot:
        return {
            "author_display_name": display_name or author,
            "author_avatar": own_avatar,
            "author_bot": False,
        }
    return {
        "author_display_name": as_name or display_name or author,
        "author_avatar": as_avatar or own_avatar,
        "author_bot": True,
    }


class _Rich(TypedDict):
    html: str
    reply_to: ReplyOut | None
    thread: int | None
    also_to_room: bool
    thread_summary: ThreadSummary | None
    deleted: bool


def _rich(tail: tuple[Any, ...]) -> _Rich:
    html, reply_id, reply_seq, reply_author, reply_body, reply_deleted = tail[:6]
    thread_id, also_to_room, deleted_at, *summary = tail[6:]
    reply = None
    if reply_id is not None:
        reply = _reply(reply_id, reply_seq, reply_author, reply_body or "", reply_deleted)
    return {
        "html": html,
        "reply_to": reply,
        "thread": thread_id,
        "also_to_room": bool(also_to_room),
        # None until a first reply (a followed message's thread may have none yet).
        "thread_summary": thread_summary(*summary) if summary[1] is not None else None,
        "deleted": deleted_at is not None,
    }


def thread_summary(
    replies: int, last_reply_at: datetime | str | None, participants: Any, last_seq: int
) -> ThreadSummary:
    """A summary from the Thread row's columns (as either database hands them back)."""
    names = json.loads(participants) if isinstance(participants, str) else participants
    return {
        "replies": int(replies),
        "last_reply_at": aware(last_reply_at).isoformat() if last_reply_at else None,
        "participants": list(names or []),
        "last_seq": int(last_seq),
    }


def deleted_root(message: "MessageOut") -> "MessageOut":
    """A deleted root kept in the timeline for its thread: nothing of its content."""
    message["author"] = message["author_display_name"] = message["author_avatar"] = None
    message["author_bot"] = False
    message["author_icon_emoji"] = None
    message["body"] = message["html"] = message["client_id"] = ""
    message["reply_to"] = None
    message["attachment"] = None
    message["mentions"] = []
    message["group_mention"] = None
    message["reactions"] = []
    return message
