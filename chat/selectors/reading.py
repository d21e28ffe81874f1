"""Joined rooms and read state: a user's rooms with pointer, unread and mention
counts in one query, and members' read states for the counts services publish."""

from typing import Any, TypedDict

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from accounts.selectors import ProfileOut as ProfileOut  # re-exported: events, consumers
from accounts.selectors import user_profile as user_profile  # re-exported: hello.user
from chat.errors import ChatError
from chat.models import Membership, Mention, Message, Room, Sanction
from chat.protocol.codes import ErrorCode
from chat.selectors.rooms import room_with_access


class UserRef(TypedDict):
    username: str


class ReadState(TypedDict):
    """A user's read state in a room: the body of a room.read frame."""

    last_read_seq: int
    unread: int
    mentions: int
    last_seq: int  # the counts are exact as of this seq


class RoomState(TypedDict):
    """A joined room as the all-rooms connection describes it (hello.rooms, room.joined)."""

    id: int
    slug: str
    name: str
    kind: str  # "public", "private" or "direct"
    topic: str
    locked: bool
    last_seq: int
    last_read_seq: int
    unread: int
    mentions: int
    other: UserRef | None  # the other person of a direct conversation
    can_manage: bool  # may add and remove members (a private room's owner, or staff)
    notify_level: str  # the member's choice: "all", "mentions", "nothing", "" (default)


# In the room's timeline: not a thread reply, or one also sent to the room. Only these
# count as the room's unread and mentions (a thread's are counted per thread).
TIMELINE = "(m.thread_id IS NULL OR m.also_to_room)"


def _read_state_sql(where: str) -> str:
    """One row per membership matching `where`: the room, the pointer and both counts.

    The counts are correlated subqueries over the (room, seq) and (user, room, seq)
    indexes, so the query set stays the same however many rooms a user is in."""
    q = connection.ops.quote_name
    room, member, user = (
        q(Room._meta.db_table),
        q(Membership._meta.db_table),
        q(User._meta.db_table),
    )
    message, mention = q(Message._meta.db_table), q(Mention._meta.db_table)
    # Only table names (from the models) and fixed fragments are interpolated.
    return (
        "SELECT r.id, r.slug, r.name, r.topic, r.is_private, r.is_direct, r.is_locked,"  # noqa: S608
        " r.last_seq, mb.user_id, mb.last_read_seq,"
        f" (SELECT COUNT(*) FROM {message} m WHERE m.room_id = r.id"
        f"  AND m.seq > mb.last_read_seq AND m.deleted_at IS NULL AND {TIMELINE}"
        "  AND (m.author_id IS NULL OR m.author_id <> mb.user_id)),"
        # Mentions: the rows naming the user (names, @here) plus the @room messages,
        # which have no rows (one per member would make @room in a big room slow to save).
        f" (SELECT COUNT(*) FROM {mention} x JOIN {message} m ON m.id = x.message_id"
        "  WHERE x.user_id = mb.user_id AND x.room_id = r.id AND x.seq > mb.last_read_seq"
        f"  AND m.deleted_at IS NULL AND {TIMELINE})"
        f" + (SELECT COUNT(*) FROM {message} m WHERE m.room_id = r.id"
        "  AND m.seq > mb.last_read_seq AND m.deleted_at IS NULL AND m.group_mention = 'room'"
        f"  AND {TIMELINE}"
        "  AND (m.author_id IS NULL OR m.author_id <> mb.user_id)),"
        f" (SELECT u.username FROM {member} o JOIN {user} u ON u.id = o.user_id"
        "  WHERE r.is_direct AND o.room_id = r.id AND o.user_id <> mb.user_id"
        "  ORDER BY o.id LIMIT 1),"
        # May manage the members (/chat/<slug>/members/): a private room's owner, staff.
        " (r.is_private AND NOT r.is_direct AND (r.created_by_id = mb.user_id"
        f"  OR EXISTS(SELECT 1 FROM {user} s WHERE s.id = mb.user_id AND s.is_staff))),"
        " mb.notify_level"
        f" FROM {member} mb JOIN {room} r ON r.id = mb.room_id WHERE {where}"
    )


def _not_banned() -> str:
    sanction = connection.ops.quote_name(Sanction._meta.db_table)
    return (
        f"NOT EXISTS(SELECT 1 FROM {sanction} s WHERE s.user_id = mb.user_id"  # noqa: S608
        " AND s.kind = %(ban)s AND s.lifted_at IS NULL"
        " AND (s.room_id = r.id OR s.room_id IS NULL)"
        " AND (s.expires_at IS NULL OR s.expires_at > %(now)s))"
    )


def _ban_params() -> dict[str, Any]:
    return {
        "ban": Sanction.Kind.BAN.value,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
    }


def _room_state(row: tuple[Any, ...]) -> RoomState:
    pk, slug, name, topic, is_private, is_direct, is_locked, last_seq = row[:8]
    _user_id, last_read_seq, unread, mentions, other, can_manage, notify_level = row[8:]
    kind = "direct" if is_direct else "private" if is_private else "public"
    return {
        "id": pk,
        "slug": slug,
        "name": name,
        "topic": topic,
        "kind": kind,
        "locked": bool(is_locked),
        "last_seq": int(last_seq),
        "last_read_seq": int(last_read_seq),
        "unread": int(unread),
        "mentions": int(mentions),
        "other": {"username": other} if other is not None else None,
        "can_manage": bool(can_manage),
        "notify_level": str(notify_level),
    }


_KIND_ORDER = {"public": 0, "private": 1, "direct": 2}


def user_rooms(*, user_id: int) -> list[RoomState]:
    """The rooms the user has joined and may read now (not banned), with read state:
    one query whatever the number of rooms. Sorted by kind, then name."""
    with connection.cursor() as cursor:
        cursor.execute(
            _read_state_sql(f"mb.user_id = %(user)s AND {_not_banned()}"),
            {"user": user_id, **_ban_params()},
        )
        rooms = [_room_state(row) for row in cursor.fetchall()]
    rooms.sort(key=lambda room: (_KIND_ORDER[room["kind"]], room["name"].lower(), room["slug"]))
    return rooms


def rooms_to_join(*, user_id: int) -> list[tuple[int, str]] | None:
    """(id, slug) of the rooms the user has joined and may read now, or None when the
    account may not chat at all (inactive, or banned site-wide): what an all-rooms
    connection subscribes to before it reads the rooms' state. One query, no counts."""
    q = connection.ops.quote_name
    room, member, user = (
        q(Room._meta.db_table),
        q(Membership._meta.db_table),
        q(User._meta.db_table),
    )
    sanction = q(Sanction._meta.db_table)
    # One row for the account (ok) left-joined to its rooms: a row even with no rooms.
    sql = (
        f"SELECT a.ok, j.id, j.slug FROM (SELECT EXISTS(SELECT 1 FROM {user} u"  # noqa: S608
        "  WHERE u.id = %(user)s AND u.is_active)"
        f" AND NOT EXISTS(SELECT 1 FROM {sanction} s WHERE s.user_id = %(user)s"
        "  AND s.kind = %(ban)s AND s.room_id IS NULL AND s.lifted_at IS NULL"
        "  AND (s.expires_at IS NULL OR s.expires_at > %(now)s)) AS ok) a"
        f" LEFT JOIN (SELECT r.id, r.slug FROM {member} mb JOIN {room} r ON r.id = mb.room_id"
        f"  WHERE mb.user_id = %(user)s AND {_not_banned()}) j ON a.ok"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"user": user_id, **_ban_params()})
        rows = cursor.fetchall()
    if not rows or not rows[0][0]:
        return None
    return [(int(pk), str(slug)) for _ok, pk, slug in rows if pk is not None]


def user_room(*, user_id: int, room_id: int) -> RoomState | None:
    """One joined room's state, or None when not joined (or banned there)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _read_state_sql(f"mb.user_id = %(user)s AND mb.room_id = %(room)s AND {_not_banned()}"),
            {"user": user_id, "room": room_id, **_ban_params()},
        )
        row = cursor.fetchone()
    return _room_state(row) if row is not None else None


def read_states(
    *,
    room_id: int,
    user_ids: list[int] | None = None,
    pointer_below: int | None = None,
    exclude_user: int | None = None,
) -> dict[int, ReadState]:
    """Read state of the room's members: those in `user_ids`, or (with `pointer_below`)
    every member who has not read that seq yet. One query."""
    where = ["mb.room_id = %(room)s"]
    params: dict[str, Any] = {"room": room_id}
    if user_ids is not None:
        if not user_ids:
            return {}
        where.append(f"mb.user_id IN ({', '.join(['%s'] * len(user_ids))})")
    if pointer_below is not None:
        where.append("mb.last_read_seq < %(below)s")
        params["below"] = pointer_below
    if exclude_user is not None:
        where.append("mb.user_id <> %(exclude)s")
        params["exclude"] = exclude_user
    sql = _read_state_sql(" AND ".join(where))
    if user_ids is not None:
        # Mixed placeholder styles are not allowed: number the IN list's values.
        names = [f"u{index}" for index in range(len(user_ids))]
        sql = sql.replace(
            f"IN ({', '.join(['%s'] * len(user_ids))})",
            f"IN ({', '.join(f'%({name})s' for name in names)})",
        )
        params.update(zip(names, user_ids, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        int(row[8]): {
            "last_read_seq": int(row[9]),
            "unread": int(row[10]),
            "mentions": int(row[11]),
            "last_seq": int(row[7]),
        }
        for row in rows
    }


def room_preview(*, user_id: int, slug: str) -> RoomState:
    """A room the user may read described like a joined one, with nothing unread (a
    preview is not counted). ChatError when it does not exist or may not be read."""
    room, access = room_with_access(slug=slug, user_id=user_id)
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    if not access["read"]:
        raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
    kind = "direct" if room["is_direct"] else "private" if room["is_private"] else "public"
    return {
        "id": room["id"],
        "slug": room["slug"],
        "name": room["name"],
        "topic": room["topic"],
        "kind": kind,
        "locked": room["is_locked"],
        "last_seq": room["last_seq"],
        "last_read_seq": room["last_seq"],
        "unread": 0,
        "mentions": 0,
        "other": None,
        "can_manage": False,
        "notify_level": "",
    }
