"""Incoming webhooks: who may manage them, their creation and revocation, and a post's
path from its payload to the one write path (as the hook's bot). No HTTP here: the
view (integrations/views.py) reads the request and turns HookRefused into an answer."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypedDict
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat import services
from chat.content.slack import PayloadError, SlackMessage, payload_parse
from chat.errors import ChatError
from chat.models import Membership, Room
from chat.protocol.codes import ErrorCode, HookAnswer
from chat.services.posting import PostedAs, RichContent, SendRequest
from integrations import bots
from integrations.models import IncomingWebhook

KEY_BYTES = 32  # secrets.token_urlsafe(32): 43 URL-safe characters (the issue: >= 32)
KEY_PREFIX_CHARS = 8
MAX_NAME_CHARS = 80
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often

# What the write path's refusals mean to a Slack tool.
_REFUSALS: dict[str, HookAnswer] = {
    ErrorCode.EMPTY_BODY: HookAnswer.NO_TEXT,
    ErrorCode.BODY_TOO_LONG: HookAnswer.INVALID_PAYLOAD,
    ErrorCode.BAD_BODY: HookAnswer.INVALID_PAYLOAD,
    ErrorCode.BAD_THREAD: HookAnswer.INVALID_PAYLOAD,
    ErrorCode.BAD_REPLY: HookAnswer.INVALID_PAYLOAD,
}


class HookRefused(Exception):
    """A post the hook answers with something other than `ok`."""

    def __init__(self, answer: HookAnswer, detail: str, retry_after: float = 0.0) -> None:
        super().__init__(detail)
        self.answer = answer
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class NewHook:
    hook: IncomingWebhook
    key: str  # shown once; only its digest is stored


class HookOut(TypedDict):
    id: int
    name: str
    prefix: str
    bot: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    other_rooms: list[str]


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hook_path(key: str) -> str:
    return f"/hooks/{key}"


def hooks_may_manage(*, room: Room, user: User) -> bool:
    """Staff; a private room's owner; any member of a public room when staff allow it
    (CHAT_WEBHOOKS_MEMBERS_MAY_CREATE). Never in a direct conversation."""
    if not user.is_active or room.is_direct:
        return False
    if user.is_staff:
        return True
    if room.is_private:
        return room.created_by_id == user.pk
    return (
        settings.CHAT_WEBHOOKS_MEMBERS_MAY_CREATE
        and Membership.objects.filter(room=room, user=user).exists()
    )


@transaction.atomic
def hook_create(*, room: Room, name: str, actor: User | None) -> NewHook:
    """A hook for `room` with a bot of its own; `actor` None: the server's operator (the
    command line), else someone hooks_may_manage allows."""
    if actor is not None and not hooks_may_manage(room=room, user=actor):
        raise ChatError(ErrorCode.FORBIDDEN, "Only staff or the room's owner manage its hooks.")
    if room.is_direct:
        raise ChatError(ErrorCode.FORBIDDEN, "A direct conversation has no hooks.")
    name = " ".join(name.split())[:MAX_NAME_CHARS] or f"{room.slug} hook"
    bot = bots.hook_bot_create(hook_name=name, owner=actor)
    key = secrets.token_urlsafe(KEY_BYTES)
    hook = IncomingWebhook.objects.create(
        name=name,
        room=room,
        bot=bot,
        digest=key_digest(key),
        prefix=key[:KEY_PREFIX_CHARS],
        created_by=actor,
    )
    hook_rooms_joined(hook=hook)
    services.audit_record(actor=actor, action="hook.create", target=f"{name} in {room.slug}")
    return NewHook(hook=hook, key=key)


def hook_rooms_joined(*, hook: IncomingWebhook) -> None:
    """The hook's bot joins the private rooms it may post to (a public room needs no
    membership to be written in). Called when its rooms are set."""
    rooms = [hook.room, *hook.other_rooms.all()]
    for room in rooms:
        if room.is_private and not room.is_direct:
            services.membership_ensure(room=room, user=hook.bot)


@transaction.atomic
def hook_revoke(*, hook_id: int, room: Room, actor: User) -> None:
    if not hooks_may_manage(room=room, user=actor):
        raise ChatError(ErrorCode.FORBIDDEN, "Only staff or the room's owner manage its hooks.")
    revoked = IncomingWebhook.objects.filter(pk=hook_id, room=room, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise ChatError(ErrorCode.NOT_FOUND, "No such hook in this room.")
    services.audit_record(actor=actor, action="hook.revoke", target=f"{hook_id} in {room.slug}")


def hook_list(*, room_id: int) -> list[HookOut]:
    hooks = (
        IncomingWebhook.objects.filter(room_id=room_id)
        .select_related("bot", "created_by")
        .prefetch_related("other_rooms")
        .order_by("revoked_at", "-created_at")
    )
    return [
        {
            "id": hook.pk,
            "name": hook.name,
            "prefix": hook.prefix,
            "bot": hook.bot.get_username(),
            "created_by": hook.created_by.get_username() if hook.created_by else "",
            "created_at": hook.created_at,
            "last_used_at": hook.last_used_at,
            "revoked_at": hook.revoked_at,
            "other_rooms": [room.slug for room in hook.other_rooms.all()],
        }
        for hook in hooks
    ]


# --- a post -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveHook:
    """What a post needs of its hook, read in one statement (hook_find)."""

    id: int
    room_id: int
    room_slug: str
    bot: User  # id, username and is_active only: enough for the write path
    last_used_at: datetime | None


def _find_sql() -> str:
    q = connection.ops.quote_name
    hook, room, user = (
        q(IncomingWebhook._meta.db_table),
        q(Room._meta.db_table),
        q(User._meta.db_table),
    )
    return (
        "SELECT h.id, h.room_id, r.slug, h.revoked_at, h.last_used_at,"  # noqa: S608
        " u.id, u.username, u.is_active"
        f" FROM {hook} h JOIN {room} r ON r.id = h.room_id JOIN {user} u ON u.id = h.bot_id"
        " WHERE h.digest = %s"
    )


_FIND_SQL = _find_sql()


def hook_find(*, key: str) -> LiveHook:
    """The live hook with this key, or HookRefused: no_service for an unknown or revoked
    key, action_prohibited when its bot was deactivated (which also revoked it). One
    hand-written statement: the ORM's compiling of the same query was a fifth of a
    post's CPU in the bench."""
    if not key or len(key) > 200:
        raise HookRefused(HookAnswer.NO_SERVICE, "No such hook.")
    with connection.cursor() as cursor:
        cursor.execute(_FIND_SQL, [key_digest(key)])
        row = cursor.fetchone()
    if row is None:
        raise HookRefused(HookAnswer.NO_SERVICE, "No such hook.")
    hook_id, room_id, slug, revoked_at, last_used_at, bot_id, username, active = row
    if not active:
        raise HookRefused(HookAnswer.ACTION_PROHIBITED, "The hook's bot is deactivated.")
    if revoked_at is not None:
        raise HookRefused(HookAnswer.NO_SERVICE, "This hook was revoked.")
    bot = User(pk=bot_id, username=username, is_active=True)
    used = parse_datetime(last_used_at) if isinstance(last_used_at, str) else last_used_at
    if used is not None and timezone.is_naive(used):  # SQLite hands back naive UTC text
        used = timezone.make_aware(used, UTC)
    return LiveHook(hook_id, room_id, slug, bot, used)


def avatar_url_allowed(url: str) -> bool:
    """Whether the page's CSP lets it show this image: https on a host (or under a
    "*.domain") listed in CHAT_AVATAR_HOSTS, on the default port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https" or not host or port not in (None, 443):
        return False
    for allowed in settings.CHAT_AVATAR_HOSTS:
        if allowed.startswith("*."):
            if host.endswith(allowed[1:]):
                return True
        elif host == allowed:
            return True
    return False


def _target_room(hook: LiveHook, channel: str) -> int:
    """The id of the room a post goes to: the hook's own, or one staff allowed it."""
    slug = channel.strip().removeprefix("#")
    if not slug or slug == hook.room_slug:
        return hook.room_id
    allowed = IncomingWebhook.other_rooms.through.objects.filter(
        incomingwebhook_id=hook.id, room__slug=slug
    )
    room_id = allowed.values_list("room_id", flat=True).first()
    if room_id is None:
        raise HookRefused(HookAnswer.CHANNEL_NOT_FOUND, f"This hook may not post to {channel!r}.")
    return int(room_id)


def _posted_as(message: SlackMessage) -> PostedAs | None:
    avatar = message.icon_url if message.icon_url and avatar_url_allowed(message.icon_url) else ""
    if not (message.username or avatar or message.icon_emoji):
        return None
    return PostedAs(name=message.username, avatar=avatar, emoji=message.icon_emoji)


def hook_request(*, hook: LiveHook, data: object) -> SendRequest:
    """The send a Slack payload `data` asks for, as the hook's bot (HookRefused when it
    cannot be shown or names a room the hook may not post to). Parsing a large payload
    costs CPU: the view runs this on a read thread, never on the event loop."""
    try:
        message = payload_parse(data, max_body_chars=settings.CHAT_MAX_BODY_CHARS)
    except PayloadError as error:
        answer = HookAnswer(error.code) if error.code in set(HookAnswer) else None
        raise HookRefused(answer or HookAnswer.INVALID_PAYLOAD, error.detail) from None
    return SendRequest(
        room_id=_target_room(hook, message.channel),
        author=hook.bot,
        body=message.fallback,
        # Slack's hooks have no idempotency key: every post is a new message.
        client_id=f"hook-{uuid.uuid4().hex}",
        thread=message.thread,
        rich=RichContent(markdown=message.markdown, card_html=message.card_html),
        posted_as=_posted_as(message),
    )


def hook_refused(error: ChatError) -> HookRefused:
    """What a refusal of the write path means to a Slack tool."""
    return HookRefused(_REFUSALS.get(error.code, HookAnswer.ACTION_PROHIBITED), error.detail)


def hook_used(*, hook: LiveHook) -> None:
    """Note the hook's use: last_used_at, written at most once a minute (LAST_USED_EVERY),
    so a busy hook costs no write per post."""
    now = timezone.now()
    if hook.last_used_at is None or now - hook.last_used_at > LAST_USED_EVERY:
        IncomingWebhook.objects.filter(pk=hook.id).update(last_used_at=now)
