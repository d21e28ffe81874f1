"""Outgoing webhooks' configuration: create, change, switch off and delete them, and
keep `chat.Room.outgoing_hooks` exact — the count of ENABLED hooks that watch each room
(its own hooks, and in a direct conversation the hooks of the bot in it), which the
write path reads to decide whether to queue a delivery job at all. Never sends HTTP.

The count is recounted (never incremented) from the hooks and memberships, by the
receivers in integrations/receivers.py whenever a hook is saved or deleted or a hook's
bot joins a direct conversation, so every path (these services, the admin, a bot's
deactivation) keeps it exact; only a queryset .update() of hooks would bypass them.
"""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from chat import services as chat_services
from chat.errors import ChatError
from chat.models import Membership, Room
from chat.ops import egress
from chat.protocol.codes import ErrorCode
from integrations import bots
from integrations.models import OutgoingWebhook
from integrations.triggers import triggers_clean

MAX_URL_CHARS = 500  # OutgoingWebhook.url's column
SECRET_BYTES = 32  # token_urlsafe: 43 characters


@dataclass(frozen=True, slots=True)
class HookSettings:
    url: str
    triggers: tuple[str, ...] = ()
    on_mention: bool = False
    on_all: bool = False


def outgoing_allowed_hosts() -> set[str]:
    return {host.lower() for host in settings.CHAT_WEBHOOK_ALLOW_HOSTS}


def hook_settings_check(wanted: HookSettings) -> list[str]:
    """The trigger words as stored; ChatError(INVALID) for a bad URL or trigger. The URL
    is checked against the egress rule now (the owner hears why at once) and again at
    every delivery (DNS may change)."""
    if len(wanted.url) > MAX_URL_CHARS:
        raise ChatError(ErrorCode.INVALID, f"The URL is longer than {MAX_URL_CHARS} characters.")
    try:
        egress.url_target(wanted.url, outgoing_allowed_hosts())
    except egress.EgressRefused as refused:
        raise ChatError(ErrorCode.INVALID, f"This URL cannot be used: {refused.reason}.") from None
    try:
        return triggers_clean(list(wanted.triggers))
    except ValueError as error:
        raise ChatError(ErrorCode.INVALID, f"Triggers: {error}.") from None


@transaction.atomic
def outgoing_create(
    *, room: Room, name: str, wanted: HookSettings, actor: User
) -> tuple[OutgoingWebhook, str]:
    """A new enabled hook with its own bot, which joins the room (so @mentions of it are
    mentions of a member). Returns the hook and its secret (shown once to the creator;
    kept as it is since every request is signed with it)."""
    if room.is_direct:
        raise ChatError(
            ErrorCode.INVALID, "Outgoing webhooks watch rooms, not direct conversations."
        )
    triggers = hook_settings_check(wanted)
    name = name.strip()[:80] or "Outgoing webhook"
    bot = bots.hook_bot_create(hook_name=name, owner=actor)
    if room.is_private:
        chat_services.membership_add(room=room, user=bot, actor=actor)
    else:
        chat_services.room_join(user=bot, slug=room.slug)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    hook = OutgoingWebhook.objects.create(
        name=name,
        room=room,
        bot=bot,
        url=wanted.url,
        secret=secret,
        triggers=triggers,
        on_mention=wanted.on_mention,
        on_all=wanted.on_all,
        created_by=actor,
    )
    return hook, secret


@transaction.atomic
def outgoing_update(*, hook: OutgoingWebhook, wanted: HookSettings) -> OutgoingWebhook:
    hook.triggers = hook_settings_check(wanted)
    hook.url, hook.on_mention, hook.on_all = wanted.url, wanted.on_mention, wanted.on_all
    hook.save(update_fields=["url", "triggers", "on_mention", "on_all"])
    return hook


@transaction.atomic
def outgoing_enable(*, hook: OutgoingWebhook, enabled: bool, reason: str = "") -> None:
    """Switch a hook on (its failure count starts again) or off (with why, for its owner)."""
    hook.enabled = enabled
    hook.failures_in_row = 0 if enabled else hook.failures_in_row
    hook.disabled_reason = "" if enabled else reason[:200]
    hook.save(update_fields=["enabled", "failures_in_row", "disabled_reason"])


@transaction.atomic
def outgoing_delete(*, hook: OutgoingWebhook) -> None:
    """Delete the hook and deactivate its bot (its messages stay, shown as the bot's)."""
    bot = hook.bot
    hook.delete()
    bot.is_active = False
    bot.save(update_fields=["is_active"])


def hook_rooms(hook: OutgoingWebhook) -> set[int]:
    """Every room a hook watches: its own and the direct conversations of its bot."""
    direct = Membership.objects.filter(user_id=hook.bot_id, room__is_direct=True)
    return {hook.room_id, *direct.values_list("room_id", flat=True)}


def outgoing_hooks_recount(room_ids: set[int]) -> None:
    """Set Room.outgoing_hooks from the hooks themselves (call inside the transaction
    that changed them)."""
    for room_id in sorted(room_ids):  # in id order, like the write path's row locks
        watching = (
            OutgoingWebhook.objects.filter(enabled=True)
            .filter(
                Q(room_id=room_id)
                | Q(
                    bot__chat_memberships__room_id=room_id,
                    bot__chat_memberships__room__is_direct=True,
                )
            )
            .distinct()
            .count()
        )
        Room.objects.filter(pk=room_id).exclude(outgoing_hooks=watching).update(
            outgoing_hooks=watching
        )
