"""Incoming webhooks: who may manage them, their creation and revocation, and a post's
path from its payload to the one write path (as the hook's bot). No HTTP here: the
view (integrations/views.py) reads the request and turns HookRefused into an answer."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat import services
from chat.content.slack import PayloadError, SlackMessage, payload_parse
from chat.database import group_commit
from chat.errors import ChatError
from chat.limits import blocking
from chat.models import Membership, Room
from chat.protocol.codes import ErrorCode, HookAnswer
from chat.selectors import MessageOut
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


def hook_find(*, key: str) -> IncomingWebhook:
    """The live hook with this key, or HookRefused: no_service for an unknown or revoked
    key, action_prohibited when its bot was deactivated (which also revoked it)."""
    if not key or len(key) > 200:
        raise HookRefused(HookAnswer.NO_SERVICE, "No such hook.")
    hook = (
        IncomingWebhook.objects.select_related("bot", "room").filter(digest=key_digest(key)).first()
    )
    if hook is None:
        raise HookRefused(HookAnswer.NO_SERVICE, "No such hook.")
    if not hook.bot.is_active:
        raise HookRefused(HookAnswer.ACTION_PROHIBITED, "The hook's bot is deactivated.")
    if hook.revoked_at is not None:
        raise HookRefused(HookAnswer.NO_SERVICE, "This hook was revoked.")
    return hook


def hook_rate_check(*, hook: IncomingWebhook) -> None:
    try:
        blocking.hook_check_sync(hook.pk)
    except blocking.HookRateLimited as error:
        raise HookRefused(HookAnswer.RATE_LIMITED, error.detail, error.retry_after) from None


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


def _target_room(hook: IncomingWebhook, channel: str) -> Room:
    slug = channel.strip().removeprefix("#")
    if not slug or slug == hook.room.slug:
        return hook.room
    room = hook.other_rooms.filter(slug=slug).first()
    if room is None:
        raise HookRefused(HookAnswer.CHANNEL_NOT_FOUND, f"This hook may not post to {channel!r}.")
    return room


def _posted_as(message: SlackMessage) -> PostedAs | None:
    avatar = message.icon_url if message.icon_url and avatar_url_allowed(message.icon_url) else ""
    if not (message.username or avatar or message.icon_emoji):
        return None
    return PostedAs(name=message.username, avatar=avatar, emoji=message.icon_emoji)


def hook_post(*, hook: IncomingWebhook, data: object) -> MessageOut:
    """Post the Slack payload `data` as the hook's bot (HookRefused otherwise), through
    group commit under daphne (as the API's posts), directly elsewhere."""
    try:
        message = payload_parse(data, max_body_chars=settings.CHAT_MAX_BODY_CHARS)
    except PayloadError as error:
        answer = HookAnswer(error.code) if error.code in set(HookAnswer) else None
        raise HookRefused(answer or HookAnswer.INVALID_PAYLOAD, error.detail) from None
    room = _target_room(hook, message.channel)
    request = SendRequest(
        room_id=room.pk,
        author=hook.bot,
        body=message.fallback,
        # Slack's hooks have no idempotency key: every post is a new message.
        client_id=f"hook-{uuid.uuid4().hex}",
        thread=message.thread,
        rich=RichContent(markdown=message.markdown, card_html=message.card_html),
        posted_as=_posted_as(message),
    )
    try:
        saved = group_commit.post_sync(request)
    except ChatError as error:
        answer = _REFUSALS.get(error.code, HookAnswer.ACTION_PROHIBITED)
        raise HookRefused(answer, error.detail) from None
    _touch(hook)
    return saved


def _touch(hook: IncomingWebhook) -> None:
    now = timezone.now()
    if hook.last_used_at is None or now - hook.last_used_at > LAST_USED_EVERY:
        IncomingWebhook.objects.filter(pk=hook.pk).update(last_used_at=now)
