"""A user's profile and preferences: display name and avatar (seen by everyone, live),
the page's theme and their time zone (their own), and their email address. The one
place these are written (docs/architecture.md: services)."""

import functools
import secrets
import unicodedata
import zoneinfo
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest

from accounts import avatars, selectors
from accounts.identity import audit
from accounts.models import Profile
from chat import events
from chat.errors import ChatError
from chat.protocol.codes import ErrorCode


def display_name_clean(value: str) -> str:
    """A display name as stored: NFC, outer spaces stripped, inner runs of spaces kept
    as one; at most CHAT_DISPLAY_NAME_MAX_CHARS printable characters ("" for none)."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    limit = settings.CHAT_DISPLAY_NAME_MAX_CHARS
    if len(name) > limit:
        raise ChatError(
            ErrorCode.DISPLAY_NAME_TOO_LONG, f"A display name has at most {limit} characters."
        )
    if not name.isprintable() or any(unicodedata.category(c) in ("Cf", "Co", "Cs") for c in name):
        raise ChatError(
            ErrorCode.BAD_DISPLAY_NAME,
            "A display name cannot contain control or invisible characters.",
        )
    return name


def profile_update(
    *,
    user: User,
    display_name: str | None = None,
    avatar: IO[bytes] | None = None,
    avatar_name: str = "avatar",
    avatar_remove: bool = False,
) -> selectors.ProfileOut:
    """Change the display name and/or the avatar; everyone showing the user hears of it
    (chat.profile, after commit). Nothing changes if any part is refused (ChatError)."""
    name = display_name_clean(display_name) if display_name is not None else None
    stored = ""
    if avatar is not None:
        image = avatars.avatar_process(avatar, name=avatar_name)  # before any write
        stored = default_storage.save(
            f"avatars/{user.pk}-{secrets.token_hex(8)}.{image.extension}", ContentFile(image.data)
        )
    try:
        profile, old_avatar = _profile_save(user, name, stored, avatar_remove)
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise
    if old_avatar:
        # Not an event: the replaced file, removed only once nothing can still name it.
        transaction.on_commit(lambda: default_storage.delete(old_avatar), robust=True)
    return profile


@transaction.atomic
def _profile_save(
    user: User, name: str | None, stored: str, avatar_remove: bool
) -> tuple[selectors.ProfileOut, str]:
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    old_avatar = ""
    if name is not None:
        profile.display_name = name
    if stored or avatar_remove:
        old_avatar = str(profile.avatar.name or "")
        profile.avatar.name = stored
    profile.version += 1
    profile.save()
    out = selectors.profile_out(
        user.get_username(), profile.display_name, profile.version, profile.is_bot
    )
    user_id = user.pk
    selectors.profile_forget(user_id)
    # Not an event: this process's own profile cache, forgotten once the change is
    # visible (every other process forgets it when the chat.profile event arrives).
    transaction.on_commit(lambda: selectors.profile_forget(user_id), robust=True)
    events.publish_on_commit(events.profile(out))
    return out, old_avatar


THEMES = ("system", "light", "dark")


def timezone_clean(value: str) -> str:
    """An IANA zone name as zoneinfo knows it ("" for none), or ChatError."""
    name = value.strip()
    if name and name not in _zone_names():
        raise ChatError(ErrorCode.BAD_TZ, f"{name!r} is not a time zone this server knows.")
    return name


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def profile_preferences_set(*, user: User, theme: str, timezone_name: str) -> None:
    """The user's own page settings: the colour theme ("system", "light", "dark") and the
    time zone shown on their profile card ("" for none). Nothing changes if either is
    refused (ChatError). Not an event: only the user's next page load uses the theme,
    and profile cards read the zone from the database (person_by_username), not from
    the profile cache, which holds neither."""
    if theme not in THEMES:
        raise ChatError(ErrorCode.INVALID, "Choose light, dark or system.")
    zone = timezone_clean(timezone_name)
    with transaction.atomic():
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        profile.theme = theme
        profile.timezone = zone
        profile.save(update_fields=["theme", "timezone", "updated_at"])


@transaction.atomic
def email_change(*, user: User, email: str, request: HttpRequest | None = None) -> None:
    """Set the account's email address (validated by the form; "" removes it). A change
    is audited (email.change: the address recovers the account)."""
    new = User.objects.normalize_email(email.strip())
    if new == user.email:
        return
    old = user.email
    user.email = new
    user.save(update_fields=["email"])
    audit.record(
        audit.SecurityEvent.EMAIL_CHANGE,
        actor=user,
        target=user,
        reason=f"{old or '(none)'} -> {new or '(none)'}",
        request=request,
    )
