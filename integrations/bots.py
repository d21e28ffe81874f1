"""Bot accounts: created with an unusable password and a first API token, revoked whole
when deactivated (tokens, incoming hooks, outgoing hooks), whatever deactivates them.
Write-side services; transport (admin, commands, pages) calls these, never the ORM."""

from django.contrib.auth.models import User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import profiles
from accounts.models import Profile
from chat import services
from chat.errors import ChatError
from chat.models import ApiToken
from chat.protocol.codes import ErrorCode
from integrations.models import IncomingWebhook, OutgoingWebhook

MAX_USERNAME_CHARS = 150  # Django's User.username
HOOK_BOT_NAME_CHARS = 40  # the slug part of a hook bot's username


def _account_create(*, username: str, display_name: str, owner: User | None) -> User:
    """The bot's user and profile (inside the caller's transaction)."""
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise ChatError(
            ErrorCode.INVALID, "A username has letters, digits and @ . + - _ only."
        ) from None
    if len(username) > MAX_USERNAME_CHARS:
        raise ChatError(ErrorCode.INVALID, f"A username has at most {MAX_USERNAME_CHARS} letters.")
    if User.objects.filter(username__iexact=username).exists():
        raise ChatError(ErrorCode.INVALID, f"The username {username!r} is taken.")
    name = profiles.display_name_clean(display_name)
    bot = User(username=username, is_staff=False, is_superuser=False)
    bot.set_unusable_password()  # no page log-in; accounts/backends.py refuses it anyway
    bot.save()
    Profile.objects.update_or_create(
        user=bot, defaults={"is_bot": True, "bot_owner": owner, "display_name": name}
    )
    return bot


@transaction.atomic
def bot_create(*, username: str, display_name: str, owner: User | None) -> tuple[User, str]:
    """A bot account and its first API token: (the bot, the token's secret, shown once)."""
    bot = _account_create(username=username, display_name=display_name, owner=owner)
    created = services.token_create(user=bot, name="bot", actor=owner)
    services.audit_record(actor=owner, action="bot.create", target=username)
    return bot, created.secret


def hook_bot_create(*, hook_name: str, owner: User | None) -> User:
    """The account an incoming hook posts as: named after it (display name = the hook's
    name, username hook-<slug>, numbered when taken), with no token: its key is its
    credential. Call inside the hook's transaction."""
    base = f"hook-{slugify(hook_name)[:HOOK_BOT_NAME_CHARS].strip('-') or 'bot'}"
    username = base
    taken = set(User.objects.filter(username__istartswith=base).values_list("username", flat=True))
    taken = {name.lower() for name in taken}
    number = 1
    while username.lower() in taken:
        number += 1
        username = f"{base}-{number}"
    display = " ".join(hook_name.split())[:50]
    return _account_create(username=username, display_name=display, owner=owner)


def is_bot(user_id: int) -> bool:
    return Profile.objects.filter(user_id=user_id, is_bot=True).exists()


def bot_deactivate(*, bot: User, actor: User) -> None:
    """Deactivate a bot: chat's user_deactivate closes its sockets, and the save's
    signal (integrations/signals.py) revokes everything it held."""
    if not is_bot(bot.pk):
        raise ChatError(ErrorCode.INVALID, f"{bot.get_username()} is not a bot.")
    services.user_deactivate(user=bot, actor=actor, reason="bot deactivated")


@transaction.atomic
def bot_revoke_all(*, bot: User) -> None:
    """What a deactivated bot held stops working at once: its API tokens are deleted,
    its incoming hooks revoked (for good: reactivating the bot does not bring them
    back), its outgoing hooks disabled. Idempotent."""
    ApiToken.objects.filter(user=bot).delete()
    IncomingWebhook.objects.filter(bot=bot, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    # One by one through save(): its receiver recounts Room.outgoing_hooks for the
    # hook's room and its bot's direct conversations (a queryset update would not).
    for hook in OutgoingWebhook.objects.select_for_update().filter(bot=bot, enabled=True):
        hook.enabled = False
        hook.disabled_reason = "Its bot was deactivated."
        hook.save(update_fields=["enabled", "disabled_reason"])
