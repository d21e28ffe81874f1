"""Read-side queries. They return plain typed data, never model instances, so callers
(consumers, views, events) cannot lazily hit the database later."""

import json
from datetime import UTC, datetime
from typing import Any, TypedDict

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Profile
from accounts.selectors import ProfileOut as ProfileOut  # re-exported: events, consumers
from accounts.selectors import avatar_url
from accounts.selectors import user_profile as user_profile  # re-exported: hello.user
from chat.errors import ChatError
from chat.models import ApiToken, Attachment, Membership, Mention, Message, Room, Sanction


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
    code: str  # why not (an error code of docs/protocol.md), "" when writing is allowed
    detail: str


class AttachmentOut(TypedDict):
    id: int
    url: str  # served only to users who may read the room
    thumbnail_url: str
    name: str
    content_type: str
    size: int
    width: int
    height: int
    thumbnail_width: int
    thumbnail_height: int


class MessageOut(TypedDict):
    id: int
    room: str
    seq: int
    author: str | None  # None only for kind "system"
    author_display_name: str | None  # the author's display name (or username); None: system
    author_avatar: str | None  # URL of the author's avatar; None: system
    body: str
    created_at: str
    client_id: str
    edited_at: str | None
    kind: str  # "user" or "system"
    attachment: AttachmentOut | None
    mentions: list[str]  # members named as @username (docs/protocol.md, Read state)


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


def message_out(
    message: Message,
    *,
    room_slug: str,
    author: str | None,
    attachment: Attachment | None = None,
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
        "created_at": message.created_at.isoformat(),
        "client_id": message.client_id,
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "kind": str(message.kind),
        "attachment": attachment_out(attachment) if attachment is not None else None,
        "mentions": list(message.mentions),
    }


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
    )


def _attachment(pk: int, name: str, content_type: str, size: int, *dims: int) -> AttachmentOut:
    width, height, thumbnail_width, thumbnail_height = dims
    return {
        "id": pk,
        "url": reverse("api:attachment", args=[pk]),
        "thumbnail_url": reverse("api:attachment_thumbnail", args=[pk]),
        "name": name,
        "content_type": content_type,
        "size": size,
        "width": width,
        "height": height,
        "thumbnail_width": thumbnail_width,
        "thumbnail_height": thumbnail_height,
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
        return None, _deny("not_found", "No such room.")
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


def room_directory(*, user: User) -> list[DirectoryRoom]:
    """The browse page: every room the user may see (public ones, private ones they are
    in; staff: all), with member counts and whether the user joined. One query."""
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
        cursor.execute(
            _ACCESS_SQL,
            {
                "room": room_id,
                "user": user_id,
                "now": connection.ops.adapt_datetimefield_value(timezone.now()),
                "ban": Sanction.Kind.BAN.value,
                "mute": Sanction.Kind.MUTE.value,
            },
        )
        row = cursor.fetchone()
    if row is None or not row[2]:  # no such room, or no such (active) user
        return _deny("forbidden", "You have no access to this room.")
    is_private, is_locked, _, staff, member, banned, muted = row
    if is_private and not staff and not member:
        return _deny("forbidden", "You have no access to this room.")
    if banned:
        return _deny("banned", "You are banned from this room.")
    if muted:
        return {"read": True, "write": False, "code": "muted", "detail": "You are muted here."}
    if is_locked and not staff:
        return {
            "read": True,
            "write": False,
            "code": "room_locked",
            "detail": "This room is locked: only staff can write.",
        }
    return {"read": True, "write": True, "code": "", "detail": ""}


def _access_sql() -> str:
    q = connection.ops.quote_name
    room, user = q(Room._meta.db_table), q(User._meta.db_table)
    member, sanction = q(Membership._meta.db_table), q(Sanction._meta.db_table)
    # Only table names (from the models) are interpolated; every value is a parameter.
    sanctioned = (
        f"SELECT 1 FROM {sanction} s WHERE s.user_id = u.id AND s.kind = %({{kind}})s"  # noqa: S608
        " AND s.lifted_at IS NULL AND (s.room_id = r.id OR s.room_id IS NULL)"
        " AND (s.expires_at IS NULL OR s.expires_at > %(now)s)"
    )
    return (
        "SELECT r.is_private, r.is_locked, u.is_active, u.is_staff,"  # noqa: S608
        f" EXISTS(SELECT 1 FROM {member} m WHERE m.room_id = r.id AND m.user_id = u.id),"
        f" EXISTS({sanctioned.format(kind='ban')}), EXISTS({sanctioned.format(kind='mute')})"
        f" FROM {room} r, {user} u WHERE r.id = %(room)s AND u.id = %(user)s"
    )


_ACCESS_SQL = _access_sql()


def _deny(code: str, detail: str) -> Access:
    return {"read": False, "write": False, "code": code, "detail": detail}


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
    return [_message_row(row) for row in picked]


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
        " a.thumbnail_width, a.thumbnail_height, m.mentions, p.display_name, p.version"
        f" FROM {message} m JOIN {room} r ON r.id = m.room_id"
        f" LEFT JOIN {user} u ON u.id = m.author_id"  # system messages have no author
        f" LEFT JOIN {attachment} a ON a.message_id = m.id"
        f" LEFT JOIN {profile} p ON p.user_id = m.author_id"  # no row: the defaults
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
    mentions, display_name, profile_version = row[17:20]
    return {
        "id": pk,
        "room": slug,
        "seq": seq,
        "author": author,
        "author_display_name": (display_name or author) if author is not None else None,
        "author_avatar": avatar_url(author, profile_version or 0) if author is not None else None,
        "body": body,
        "created_at": _aware(created_at).isoformat(),
        "client_id": client_id,
        "edited_at": _aware(edited_at).isoformat() if edited_at else None,
        "kind": kind,
        "attachment": _attachment(attachment_id, *attachment_rest) if attachment_id else None,
        # PostgreSQL's driver decodes JSON columns; SQLite hands back the text.
        "mentions": json.loads(mentions) if isinstance(mentions, str) else list(mentions or []),
    }


def message_history(*, room_id: int, after: int | None, limit: int) -> HistoryOut:
    """What a connecting client is missing: the newest `limit` messages (after `after`
    when resuming), and the room's seq at the time of reading."""
    table = connection.ops.quote_name(Room._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_seq FROM {table} WHERE id = %s", [room_id])  # noqa: S608
        row = cursor.fetchone()
    last_seq = int(row[0]) if row is not None else 0
    page = message_list(room_id=room_id, after=after, limit=limit + 1, newest=True)
    complete = after is not None and len(page) <= limit
    return {"messages": page[-limit:] if limit else [], "complete": complete, "last_seq": last_seq}


def user_get(*, username: str, active_only: bool = False) -> User | None:
    """A user for a service to act on (member management, DMs)."""
    users = User.objects.filter(username=username)
    return (users.filter(is_active=True) if active_only else users).first()


def room_model(*, room_id: int) -> Room:
    """The Room row itself, for services that change it (they take model instances)."""
    return Room.objects.get(pk=room_id)


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


class TokenOut(TypedDict):
    id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None


def token_list(*, user: User) -> list[TokenOut]:
    return [
        {
            "id": token.pk,
            "name": token.name,
            "prefix": token.prefix,
            "created_at": token.created_at.isoformat(),
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        }
        for token in ApiToken.objects.filter(user=user)
    ]


def token_user(*, digest: str) -> tuple[ApiToken, User] | None:
    """The token with this SHA-256 and its (active) user, for authentication."""
    token = (
        ApiToken.objects.select_related("user").filter(digest=digest, user__is_active=True).first()
    )
    return (token, token.user) if token is not None else None


# --- Joined rooms and read state (the all-rooms connection, docs/protocol.md) ---------


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
        "  AND m.seq > mb.last_read_seq AND m.deleted_at IS NULL"
        "  AND (m.author_id IS NULL OR m.author_id <> mb.user_id)),"
        f" (SELECT COUNT(*) FROM {mention} x JOIN {message} m ON m.id = x.message_id"
        "  WHERE x.user_id = mb.user_id AND x.room_id = r.id AND x.seq > mb.last_read_seq"
        "  AND m.deleted_at IS NULL),"
        f" (SELECT u.username FROM {member} o JOIN {user} u ON u.id = o.user_id"
        "  WHERE r.is_direct AND o.room_id = r.id AND o.user_id <> mb.user_id"
        "  ORDER BY o.id LIMIT 1),"
        # May manage the members (/chat/<slug>/members/): a private room's owner, staff.
        " (r.is_private AND NOT r.is_direct AND (r.created_by_id = mb.user_id"
        f"  OR EXISTS(SELECT 1 FROM {user} s WHERE s.id = mb.user_id AND s.is_staff)))"
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
    _user_id, last_read_seq, unread, mentions, other, can_manage = row[8:]
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


def room_preview(*, user_id: int, slug: str) -> RoomState:
    """A room the user may read described like a joined one, with nothing unread (a
    preview is not counted). ChatError when it does not exist or may not be read."""
    room, access = room_with_access(slug=slug, user_id=user_id)
    if room is None:
        raise ChatError("room_not_found", "No such room.")
    if not access["read"]:
        raise ChatError(access["code"], access["detail"])
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
    }


def message_backlogs(*, after: dict[int, int], limit: int) -> dict[int, HistoryOut]:
    """message_history(after=...) for many rooms at once: two queries in all (the rooms'
    seqs, then the newest `limit` + 1 messages after each room's seq)."""
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
    out: dict[int, HistoryOut] = {}
    for room_id, messages in picked.items():
        messages.sort(key=lambda message: message["seq"])
        out[room_id] = {
            "messages": messages[-limit:] if limit else [],
            "complete": len(messages) <= limit,
            "last_seq": last_seqs[room_id],
        }
    return out
