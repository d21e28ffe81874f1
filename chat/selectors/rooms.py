"""Rooms, access and accounts as the transports need them: plain typed data, never
model instances (except for services that act on one)."""

import json
from typing import Any, Literal, TypedDict

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from accounts.selectors import ProfileOut as ProfileOut  # re-exported: events, consumers
from accounts.selectors import user_profile as user_profile  # re-exported: hello.user
from chat.models import Membership, Room, Sanction
from chat.protocol.codes import ErrorCode


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
    # Why not (chat/protocol/codes.py); "" when writing is allowed. A refusal always has a
    # code: `access["code"] or ErrorCode.FORBIDDEN` where one is raised only satisfies mypy.
    code: ErrorCode | Literal[""]
    detail: str


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


def room_get(*, slug: str) -> RoomOut | None:
    # Hand-written like the other per-connect reads (see message_list).
    table = connection.ops.quote_name(Room._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, slug, name, topic, last_seq, is_private, is_direct, is_locked,"  # noqa: S608
            f" created_by_id FROM {table} WHERE slug = %s",
            [slug],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    pk, slug, name, topic, last_seq, is_private, is_direct, is_locked, owner_id = row
    return {
        "id": pk,
        "slug": slug,
        "name": name,
        "topic": topic,
        "last_seq": last_seq,
        "is_private": bool(is_private),
        "is_direct": bool(is_direct),
        "is_locked": bool(is_locked),
        "owner_id": owner_id,
    }


def room_with_access(*, slug: str, user_id: int) -> tuple[RoomOut | None, Access]:
    room = room_get(slug=slug)
    if room is None:
        return None, _deny(ErrorCode.ROOM_NOT_FOUND, "No such room.")
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


class DirectoryRoom(TypedDict):
    room: RoomOut
    members: int  # users who joined (public) or are members (private)
    joined: bool  # the viewing user is one of them


def room_directory(*, user: User, query: str = "") -> list[DirectoryRoom]:
    """The browse page: every room the user may see (public ones, private ones they are
    in; staff: all), with member counts and whether the user joined. One query. With a
    query: only the rooms whose name or topic contains it (any case)."""
    rooms = (
        Room.objects.annotate(
            n_members=Count("memberships", distinct=True),
            is_joined=Exists(Membership.objects.filter(room=OuterRef("pk"), user=user)),
        )
        .filter(is_direct=False)
        .order_by("is_private", "name")
    )
    if not user.is_staff:
        rooms = rooms.filter(Q(is_private=False) | Q(is_joined=True))
    if query:
        rooms = rooms.filter(Q(name__icontains=query) | Q(topic__icontains=query))
    return [
        {"room": room_out(room), "members": room.n_members, "joined": room.is_joined}
        for room in rooms
    ]


def access_for(*, room_id: int, user_id: int) -> Access:
    """What the user may do in the room right now: read from the database on every
    call, so a ban, a removal or a deactivation counts from the next action on."""
    # Runs before every send on the single database thread. One hand-written query
    # instead of four ORM ones: building the ORM's subqueries cost more than the query.
    with connection.cursor() as cursor:
        cursor.execute(_ACCESS_SQL, {"room": room_id, "user": user_id, **_access_params()})
        row = cursor.fetchone()
    return _access(row)


def access_for_many(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], Access]:
    """access_for for many (room id, user id) pairs in one query: a group commit's
    sends check their access together (one round trip, not one per sender)."""
    wanted = list(dict.fromkeys(pairs))
    if not wanted:
        return {}
    params: dict[str, Any] = _access_params()
    if connection.vendor == "postgresql":
        # One JSON parameter: a fixed statement psycopg parses once (it re-parses one
        # of more than 50 parameters every time; chat/services/seqs.py).
        values = (
            "SELECT (e->>0)::bigint AS column1, (e->>1)::integer AS column2"
            " FROM json_array_elements(%(pairs)s::json) e"
        )
        params["pairs"] = json.dumps(wanted)
    else:
        values = "VALUES " + ", ".join(f"(%(r{n})s, %(u{n})s)" for n in range(len(wanted)))
        for n, (room_id, user_id) in enumerate(wanted):
            params[f"r{n}"], params[f"u{n}"] = room_id, user_id
    sql = _ACCESS_MANY_SQL.replace("{values}", values)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = {(int(row[0]), int(row[1])): row[2:] for row in cursor.fetchall()}
    return {pair: _access(rows.get(pair)) for pair in wanted}


def _access_params() -> dict[str, Any]:
    return {
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "ban": Sanction.Kind.BAN.value,
        "mute": Sanction.Kind.MUTE.value,
    }


def _access(row: tuple[Any, ...] | None) -> Access:
    if row is None or not row[2]:  # no such room, or no such (active) user
        return _deny(ErrorCode.FORBIDDEN, "You have no access to this room.")
    is_private, is_locked, _, staff, member, banned, muted = row
    if is_private and not staff and not member:
        return _deny(ErrorCode.FORBIDDEN, "You have no access to this room.")
    if banned:
        return _deny(ErrorCode.BANNED, "You are banned from this room.")
    if muted:
        return {
            "read": True,
            "write": False,
            "code": ErrorCode.MUTED,
            "detail": "You are muted here.",
        }
    if is_locked and not staff:
        return {
            "read": True,
            "write": False,
            "code": ErrorCode.ROOM_LOCKED,
            "detail": "This room is locked: only staff can write.",
        }
    return {"read": True, "write": True, "code": "", "detail": ""}


def _access_sql() -> tuple[str, str]:
    q = connection.ops.quote_name
    room, user = q(Room._meta.db_table), q(User._meta.db_table)
    member, sanction = q(Membership._meta.db_table), q(Sanction._meta.db_table)
    # Only table names (from the models) are interpolated; every value is a parameter.
    sanctioned = (
        f"SELECT 1 FROM {sanction} s WHERE s.user_id = u.id AND s.kind = %({{kind}})s"  # noqa: S608
        " AND s.lifted_at IS NULL AND (s.room_id = r.id OR s.room_id IS NULL)"
        " AND (s.expires_at IS NULL OR s.expires_at > %(now)s)"
    )
    columns = (
        "r.is_private, r.is_locked, u.is_active, u.is_staff,"  # noqa: S608
        f" EXISTS(SELECT 1 FROM {member} m WHERE m.room_id = r.id AND m.user_id = u.id),"
        f" EXISTS({sanctioned.format(kind='ban')}), EXISTS({sanctioned.format(kind='mute')})"
    )
    one = f"SELECT {columns} FROM {room} r, {user} u WHERE r.id = %(room)s AND u.id = %(user)s"  # noqa: S608
    # The pairs as a VALUES list joined to the rows by primary key: a row-value IN makes
    # SQLite scan every room and user pair.
    many = (
        f"SELECT r.id, u.id, {columns} FROM ({{values}}) AS v"  # noqa: S608
        f" JOIN {room} r ON r.id = v.column1 JOIN {user} u ON u.id = v.column2"
    )
    return one, many


_ACCESS_SQL, _ACCESS_MANY_SQL = _access_sql()


def _deny(code: ErrorCode, detail: str) -> Access:
    return {"read": False, "write": False, "code": code, "detail": detail}


def user_get(*, username: str, active_only: bool = False) -> User | None:
    """A user for a service to act on (member management, DMs)."""
    users = User.objects.filter(username=username)
    return (users.filter(is_active=True) if active_only else users).first()


def room_model(*, room_id: int) -> Room:
    """The Room row itself, for services that change it (they take model instances)."""
    return Room.objects.get(pk=room_id)


def account_allowed(*, user_id: int) -> bool:
    """May this account use chat at all: active and not banned site-wide."""
    now = timezone.now()
    if not User.objects.filter(pk=user_id, is_active=True).exists():
        return False
    return not Sanction.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        user_id=user_id,
        kind=Sanction.Kind.BAN,
        room__isnull=True,
        lifted_at__isnull=True,
    ).exists()
