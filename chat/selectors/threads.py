"""Threads read side: a user's state in a thread (following, pointer, unread and
mention counts), their totals over the threads they follow, the Threads list, and a
thread's replies. Counts are counted from the messages themselves (never kept as
numbers), so they stay exact through edits, deletions and hides; each read is one
query however many threads a user follows."""

import base64
import binascii
from datetime import datetime
from typing import Any, TypedDict

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat.errors import ChatError
from chat.models import Membership, Mention, Message, Room, Sanction, Thread, ThreadFollow
from chat.protocol.codes import ErrorCode
from chat.selectors.message_rows import (
    _MESSAGE_SELECT,
    MessageOut,
    ThreadSummary,
    _message_row,
    aware,
    thread_summary,
)
from chat.selectors.reactions import reactions_for


class ThreadTotals(TypedDict):
    """Over the threads a user follows and may still read: hello's `threads`."""

    unread_threads: int  # threads with an unread reply
    mentions: int


class ThreadState(TypedDict):
    """A user's place in one thread: the body of a thread.state frame."""

    room: str
    root: int
    following: bool
    last_read_seq: int
    unread: int  # replies after the pointer, by others, still shown
    mentions: int  # of those, the ones that mention the user (names, @here, @room)
    last_seq: int  # the thread's newest reply seq: the counts are exact as of it


class ThreadItem(TypedDict):
    """One followed thread in the Threads list."""

    room: str
    root: MessageOut
    summary: ThreadSummary
    following: bool
    last_read_seq: int
    unread: int
    mentions: int


class ThreadsPage(TypedDict):
    items: list[ThreadItem]
    next: str | None  # the `before` of the next page; None: the last page


def _tables() -> dict[str, str]:
    q = connection.ops.quote_name
    models: dict[str, Any] = {
        "follow": ThreadFollow,
        "thread": Thread,
        "room": Room,
        "message": Message,
        "mention": Mention,
        "user": User,
        "member": Membership,
        "sanction": Sanction,
    }
    return {name: q(model._meta.db_table) for name, model in models.items()}


def _states_sql() -> str:
    """One row per ThreadFollow the WHERE (appended by callers) keeps, for users who may
    still read the thread's room. The counts run only where the thread has a reply past
    the pointer (`t.last_seq`), over the (thread, seq) index."""
    n = _tables()
    unread = (
        f"(SELECT COUNT(*) FROM {n['message']} m WHERE m.thread_id = f.thread_id"  # noqa: S608
        " AND m.seq > f.last_read_seq AND m.deleted_at IS NULL"
        " AND (m.author_id IS NULL OR m.author_id <> f.user_id))"
    )
    # The room's rules (chat/selectors/reading.py): rows naming the user, plus @room.
    # Each of the user's mention rows in the room past the pointer finds its message by
    # primary key (a scalar subquery: as a join, PostgreSQL walked the whole thread per
    # mention row through the thread_id index, 4-8 ms for a thread of 1,000 replies).
    mentions = (
        f"(SELECT COUNT(*) FROM {n['mention']} x"  # noqa: S608
        " WHERE x.user_id = f.user_id AND x.room_id = t.room_id AND x.seq > f.last_read_seq"
        f" AND (SELECT m.thread_id FROM {n['message']} m WHERE m.id = x.message_id"
        " AND m.deleted_at IS NULL) = f.thread_id)"
        f" + (SELECT COUNT(*) FROM {n['message']} m WHERE m.thread_id = f.thread_id"
        " AND m.seq > f.last_read_seq AND m.deleted_at IS NULL AND m.group_mention = 'room'"
        " AND (m.author_id IS NULL OR m.author_id <> f.user_id))"
    )
    fresh = "t.last_seq > f.last_read_seq"
    readable = (
        "u.is_active AND (NOT r.is_private OR u.is_staff"  # noqa: S608
        f" OR EXISTS(SELECT 1 FROM {n['member']} mb WHERE mb.room_id = r.id AND mb.user_id = u.id))"
        f" AND NOT EXISTS(SELECT 1 FROM {n['sanction']} s WHERE s.user_id = u.id"
        " AND s.kind = %(ban)s AND s.lifted_at IS NULL AND (s.room_id = r.id OR s.room_id IS NULL)"
        " AND (s.expires_at IS NULL OR s.expires_at > %(now)s))"
    )
    return (
        "SELECT f.user_id AS user_id, f.thread_id AS root_id, r.slug AS slug,"  # noqa: S608
        " f.following AS following, f.last_read_seq AS last_read_seq, t.last_seq AS last_seq,"
        f" CASE WHEN {fresh} THEN {unread} ELSE 0 END AS unread,"
        f" CASE WHEN {fresh} THEN {mentions} ELSE 0 END AS mentions,"
        " t.replies AS replies, t.last_reply_at AS last_reply_at,"
        " t.participants AS participants"
        f" FROM {n['follow']} f JOIN {n['thread']} t ON t.root_id = f.thread_id"
        f" JOIN {n['room']} r ON r.id = t.room_id JOIN {n['user']} u ON u.id = f.user_id"
        f" WHERE {readable}"
    )


_STATES_SQL = _states_sql()


def _params(**extra: Any) -> dict[str, Any]:
    return {
        "ban": Sanction.Kind.BAN.value,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        **extra,
    }


def _in(name: str, values: list[int], params: dict[str, Any]) -> str:
    params.update({f"{name}{i}": value for i, value in enumerate(values)})
    return f"({', '.join(f'%({name}{i})s' for i in range(len(values)))})"


def _state(row: tuple[Any, ...]) -> ThreadState:
    _user, root, slug, following, last_read_seq, last_seq, unread, mentions = row[:8]
    return {
        "room": slug,
        "root": int(root),
        "following": bool(following),
        "last_read_seq": int(last_read_seq),
        "unread": int(unread),
        "mentions": int(mentions),
        "last_seq": int(last_seq),
    }


def thread_states(
    *, root_ids: list[int], user_ids: list[int] | None = None
) -> dict[tuple[int, int], ThreadState]:
    """(user id, root id) -> state, for the users (None: everyone with a row) in these
    threads who may still read them. One query."""
    if not root_ids or user_ids == []:
        return {}
    params = _params()
    sql = f"{_STATES_SQL} AND f.thread_id IN {_in('t', root_ids, params)}"
    if user_ids is not None:
        sql += f" AND f.user_id IN {_in('u', user_ids, params)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(int(row[0]), int(row[1])): _state(row) for row in cursor.fetchall()}


def thread_totals(*, user_ids: list[int]) -> dict[int, ThreadTotals]:
    """Per user, over the threads they follow and may read: how many have an unread
    reply, and the mentions among those. One query; every user asked for is answered."""
    if not user_ids:
        return {}
    params = _params()
    inner = f"{_STATES_SQL} AND f.following AND f.user_id IN {_in('u', user_ids, params)}"
    sql = (
        "SELECT s.user_id, SUM(CASE WHEN s.unread > 0 THEN 1 ELSE 0 END),"  # noqa: S608
        f" COALESCE(SUM(s.mentions), 0) FROM ({inner}) s GROUP BY s.user_id"
    )
    totals: dict[int, ThreadTotals] = {
        user_id: {"unread_threads": 0, "mentions": 0} for user_id in user_ids
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for user_id, unread_threads, mentions in cursor.fetchall():
            totals[int(user_id)] = {
                "unread_threads": int(unread_threads or 0),
                "mentions": int(mentions or 0),
            }
    return totals


def thread_followers(root_id: int) -> list[int]:
    """The ids of the users following the thread (whether or not they may read it)."""
    return list(
        ThreadFollow.objects.filter(thread_id=root_id, following=True)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def _cursor_encode(last_reply_at: datetime, root_id: int) -> str:
    raw = f"{root_id}|{last_reply_at.isoformat()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, int]:
    bad = ChatError(ErrorCode.BAD_CURSOR, 'Pass back the "next" of the previous page.')
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        root, _, at = raw.partition("|")
        parsed = parse_datetime(at)
        root_id = int(root)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    if parsed is None or parsed.tzinfo is None or root_id < 1:
        raise bad
    return parsed, root_id


def threads_page(*, user_id: int, unread: bool, before: str | None, limit: int) -> ThreadsPage:
    """The threads the user follows and may read, newest last reply first (with
    `unread`: only those with an unread reply), `limit` at a time; `before` is the
    previous page's `next`. ChatError bad_cursor for a cursor this did not hand out."""
    params = _params(user=user_id, limit=limit + 1)
    where = ["s.following", "s.last_reply_at IS NOT NULL"]  # conversations, not bare follows
    if unread:
        where.append("s.unread > 0")
    if before is not None:
        at, root_id = _cursor_decode(before)
        params["at"] = connection.ops.adapt_datetimefield_value(at)
        params["root"] = root_id
        where.append(
            "(s.last_reply_at < %(at)s OR (s.last_reply_at = %(at)s AND s.root_id < %(root)s))"
        )
    sql = (
        f"SELECT * FROM ({_STATES_SQL} AND f.user_id = %(user)s) s"  # noqa: S608
        f" WHERE {' AND '.join(where)}"
        " ORDER BY s.last_reply_at DESC, s.root_id DESC LIMIT %(limit)s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    roots = thread_roots([int(row[1]) for row in rows], reader_id=user_id)
    items: list[ThreadItem] = []
    for row in rows:
        state = _state(row)
        summary = thread_summary(row[8], row[9], row[10], state["last_seq"])
        items.append(
            {
                "room": state["room"],
                "root": roots[state["root"]],
                "summary": summary,
                "following": state["following"],
                "last_read_seq": state["last_read_seq"],
                "unread": state["unread"],
                "mentions": state["mentions"],
            }
        )
    following_next = None
    if more and rows:
        last = rows[-1]
        at = aware(last[9])
        following_next = _cursor_encode(at, int(last[1]))
    return {"items": items, "next": following_next}


def thread_roots(ids: list[int], *, reader_id: int | None = None) -> dict[int, MessageOut]:
    """These roots by id, a deleted one as "deleted" (no content). One query, plus one
    for their reactions."""
    if not ids:
        return {}
    params: dict[str, Any] = {}
    sql = f"{_MESSAGE_SELECT} WHERE m.id IN {_in('i', ids, params)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {int(row[0]): _message_row(row) for row in cursor.fetchall()}
    reactions = reactions_for(
        [pk for pk, m in found.items() if not m["deleted"]], reader_id=reader_id
    )
    for pk, message in found.items():
        message["reactions"] = reactions.get(pk, [])
    return found


def thread_root(*, root_id: int, room_id: int) -> Message | None:
    """The root of a thread of this room: a top-level message (deleted or not)."""
    return Message.objects.filter(pk=root_id, room_id=room_id, thread__isnull=True).first()
