"""Messages: the message object every transport sends, history pages, resume
backlogs. The hot reads are hand-written SQL (one query each, chat/selectors/message_rows.py)."""

from typing import Any, TypedDict

from django.conf import settings
from django.db import connection

from accounts.selectors import ProfileOut as ProfileOut  # re-exported: events, consumers
from accounts.selectors import user_profile as user_profile  # re-exported: hello.user
from chat.models import Attachment, Message, Room, Thread
from chat.selectors.message_rows import _MESSAGE_SELECT, AuthorLook, _message_row
from chat.selectors.message_rows import REPLY_EXCERPT_CHARS as REPLY_EXCERPT_CHARS
from chat.selectors.message_rows import AttachmentOut as AttachmentOut
from chat.selectors.message_rows import MessageOut as MessageOut
from chat.selectors.message_rows import ReplyOut as ReplyOut
from chat.selectors.message_rows import ThreadSummary as ThreadSummary
from chat.selectors.message_rows import attachment_out as attachment_out
from chat.selectors.message_rows import excerpt as excerpt
from chat.selectors.message_rows import reply_out as reply_out
from chat.selectors.reactions import ReactionOut, reactions_for
from chat.selectors.rooms import Access, access_for, room_last_seqs

_THREAD = connection.ops.quote_name(Thread._meta.db_table)


def message_out(
    message: Message,
    *,
    room_slug: str,
    author: str | None,
    attachment: Attachment | None = None,
    reactions: list[ReactionOut] | None = None,
    summary: ThreadSummary | None = None,
) -> MessageOut:
    # The author's profile from the per-process cache (accounts.selectors.user_profile):
    # this runs for every message saved, and the callers pass only the username.
    profile = user_profile(message.author_id) if message.author_id is not None else None
    return {
        "id": message.pk,
        "room": room_slug,
        "seq": message.seq,
        "author": author,
        **_look(message, profile),
        "author_icon_emoji": message.as_emoji or None,
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
        "thread": message.thread_id,
        "also_to_room": message.also_to_room,
        "thread_summary": summary,
        "deleted": False,
    }


def _look(message: Message, profile: ProfileOut | None) -> AuthorLook:
    if profile is None:
        return {"author_display_name": None, "author_avatar": None, "author_bot": False}
    bot = profile["author_bot"]
    return {
        "author_display_name": (bot and message.as_name) or profile["display_name"],
        "author_avatar": (bot and message.as_avatar) or profile["avatar"],
        "author_bot": bot,
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
    thread: int | None = None,
    every: bool = False,
) -> list[MessageOut]:
    """Messages of a room's timeline (or, with `thread`, that thread's replies) with
    after < seq < before, oldest first: the first `limit` of them, or with `newest` (or
    without `after`) the last `limit` of them. Reactions' `me` is for `reader_id` (None:
    False, for frames every connection shares). With `every`: all the room's messages,
    replies included (the live stream's gap fills and resume carry them all)."""
    if limit is None:
        limit = settings.CHAT_HISTORY_LIMIT
    # Read on every connect and every gap fill, on the single database thread: one
    # hand-written query, because building the ORM's four joins cost ~1.5 ms a call,
    # far more than running it. Only fixed SQL fragments are joined; values are params.
    if every:
        where = ["m.room_id = %(room)s", "m.deleted_at IS NULL"]
    elif thread is not None:
        # Not also by room: every reply is in its root's room (checked by the caller),
        # and with both PostgreSQL guessed 3 rows (the columns taken as independent),
        # read the whole thread and sorted it (14 ms for 1,000 replies) instead of
        # walking the (thread, seq) index backwards for the page (0.4 ms).
        where = ["m.thread_id = %(thread)s", "m.deleted_at IS NULL"]
    else:
        # The timeline: top-level messages and replies also sent to the room; a deleted
        # root stays (as "deleted") while its thread has replies.
        where = [
            "m.room_id = %(room)s",
            "(m.thread_id IS NULL OR m.also_to_room)",
            f"(m.deleted_at IS NULL OR EXISTS(SELECT 1 FROM {_THREAD} t"  # noqa: S608
            " WHERE t.root_id = m.id AND t.replies > 0))",
        ]
    if after is not None:
        where.append("m.seq > %(after)s")
    if before is not None:
        where.append("m.seq < %(before)s")
    oldest_first = after is not None and not newest
    sql = (
        f"{_MESSAGE_SELECT} WHERE {' AND '.join(where)}"
        f" ORDER BY m.seq {'ASC' if oldest_first else 'DESC'} LIMIT %(limit)s"
    )
    params = {"room": room_id, "after": after, "before": before, "limit": limit, "thread": thread}
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
    # A resume carries every message after `after`, thread replies included (each
    # seq exactly once); a first connect shows the room's timeline.
    page = message_list(
        room_id=room_id,
        after=after,
        limit=limit + 1,
        newest=True,
        reader_id=reader_id,
        every=after is not None,
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
    *, room_id: int, seq: int, limit: int, reader_id: int | None = None, thread: int | None = None
) -> list[MessageOut]:
    """Up to `limit` messages around `seq`, oldest first: half of them up to and
    including `seq`, the rest after it; near either end of the room, more of the other
    side."""
    half = (limit + 1) // 2
    older = message_list(
        room_id=room_id, before=seq + 1, limit=half, reader_id=reader_id, thread=thread
    )
    newer = message_list(
        room_id=room_id, after=seq, limit=limit - len(older), reader_id=reader_id, thread=thread
    )
    short = limit - len(older) - len(newer)
    if short > 0 and len(older) == half:
        more = message_list(
            room_id=room_id, before=older[0]["seq"], limit=short, reader_id=reader_id, thread=thread
        )
        older = more + older
    return older + newer


def message_page(
    *,
    room_id: int,
    reader_id: int,
    before: int | None,
    limit: int,
    after: int | None,
    around: int | None,
    thread: int | None,
) -> list[MessageOut]:
    """A page of the room's timeline (or, with `thread`, of that thread's replies):
    `around` a seq (a search result), `after` one (reading forward) or `before` one."""
    if around is not None:
        return message_around(
            room_id=room_id, seq=around, limit=limit, reader_id=reader_id, thread=thread
        )
    if after is not None:
        return message_list(
            room_id=room_id, after=after, limit=limit, reader_id=reader_id, thread=thread
        )
    return message_list(
        room_id=room_id, before=before, limit=limit, reader_id=reader_id, thread=thread
    )
