"""Read-side queries for accounts: profiles as others see them, invitations, a user's
sessions. Plain typed data out; nothing here writes."""

import functools
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from importlib import import_module
from typing import Literal, TypedDict

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Coalesce, Lower, NullIf
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts import session_db
from accounts.models import Invitation, Profile, SessionRecord
from chat.protocol.codes import CloseCode

# How long a process reuses a profile it read for message frames. Changes made in this
# process forget it at once (accounts/signals.py); other processes forget it when the hub
# relays the change (chat.profile), and at the latest after this.
PROFILE_CACHE_SECONDS = 10.0
PROFILE_CACHE_MAX = 10_000
MAX_USERNAMES_PER_LOOKUP = 100


class ProfileOut(TypedDict):
    """A user as any logged-in user may see them (docs/api.md, docs/protocol.md)."""

    username: str
    display_name: str  # what to show: the chosen name, or the username when none is set
    avatar: str  # URL of the avatar image (the initials avatar when none was uploaded)
    author_bot: bool  # a bot account (the page shows a BOT badge): the name for it


@functools.lru_cache(maxsize=4096)
def _avatar_path(username: str) -> str:
    return reverse("api:user_avatar", args=[username])


def avatar_url(username: str, version: int) -> str:
    """The avatar's URL. The version changes with every profile change, so the image
    may be cached for long under one URL."""
    return f"{_avatar_path(username)}?v={version}"


def profile_out(
    username: str, display_name: str | None, version: int | None, bot: bool | None = False
) -> ProfileOut:
    return {
        "username": username,
        "display_name": display_name or username,
        "avatar": avatar_url(username, version or 0),
        "author_bot": bool(bot),
    }


_cache: dict[int, tuple[float, ProfileOut | None]] = {}
_cache_lock = threading.Lock()


def user_profile(user_id: int) -> ProfileOut | None:
    """The profile of a user by id (None: no such user), for frames: `hello.user`,
    message authors. Read through a short per-process cache (PROFILE_CACHE_SECONDS):
    it is called for every message saved, on the database thread."""
    hit = _cache.get(user_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    return _profiles_read({user_id})[user_id]


def profiles_warm(user_ids: Iterable[int]) -> None:
    """Read the profiles of these users that the cache lacks in one query, so that
    message_out for a batch of messages from many senders does not query once per
    author (a round trip each, inside the saving transaction)."""
    now = time.monotonic()
    missing = {pk for pk in user_ids if (hit := _cache.get(pk)) is None or hit[0] <= now}
    if missing:
        _profiles_read(missing)


def _profiles_read(user_ids: set[int]) -> dict[int, ProfileOut | None]:
    """One query for these users' profiles (None: no such user), cached."""
    now = time.monotonic()
    rows = User.objects.filter(pk__in=user_ids).values_list(
        "pk", "username", "profile__display_name", "profile__version", "profile__is_bot"
    )
    read = {
        pk: profile_out(username, name, version, bot) for pk, username, name, version, bot in rows
    }
    found: dict[int, ProfileOut | None] = {pk: read.get(pk) for pk in user_ids}
    with _cache_lock:
        if len(_cache) + len(found) > PROFILE_CACHE_MAX:
            _cache.clear()
        for pk, profile in found.items():
            _cache[pk] = (now + PROFILE_CACHE_SECONDS, profile)
    return found


def profile_forget(user_id: int | None = None) -> None:
    """Drop a user's cached profile (all, with None). Called on every change in this
    process; the hub calls it for chat.profile events from other processes."""
    with _cache_lock:
        if user_id is None:
            _cache.clear()
        else:
            _cache.pop(user_id, None)


def profiles_by_username(usernames: list[str]) -> list[ProfileOut]:
    """Profiles of the active users among these usernames, in username order. One query."""
    wanted = sorted(set(usernames))[:MAX_USERNAMES_PER_LOOKUP]
    rows = (
        User.objects.filter(username__in=wanted, is_active=True)
        .order_by("username")
        .values_list("username", "profile__display_name", "profile__version", "profile__is_bot")
    )
    return [profile_out(*row) for row in rows]


# --- the people directory (/people/, GET /api/users/?q=) -----------------------------

PEOPLE_PER_PAGE = 20
MAX_PEOPLE_PAGE = 500  # deeper than anyone pages by hand; past it the answer is empty
MAX_PEOPLE_QUERY_CHARS = 100


class PersonOut(ProfileOut):
    """A user in the people directory and on a profile card: the profile, and the IANA
    time zone they chose to show their local time ("" when none). Nothing about rooms."""

    timezone: str


class PeoplePage(TypedDict):
    results: list[PersonOut]
    page: int
    has_more: bool


def _person(
    username: str, display_name: str | None, version: int | None, bot: bool | None, zone: str | None
) -> PersonOut:
    return {**profile_out(username, display_name, version, bot), "timezone": zone or ""}


_PERSON_FIELDS = (
    "username",
    "profile__display_name",
    "profile__version",
    "profile__is_bot",
    "profile__timezone",
)


def people_search(*, query: str, page: int = 1, per_page: int = PEOPLE_PER_PAGE) -> PeoplePage:
    """Active users whose username or display name contains `query` (case-insensitive;
    every active user for ""), best match first: the exact username, then usernames
    that start with it, then by the name shown. `page` counts from 1."""
    text = query.strip()[:MAX_PEOPLE_QUERY_CHARS]
    users = User.objects.filter(is_active=True)
    if text:
        users = users.filter(
            Q(username__icontains=text) | Q(profile__display_name__icontains=text)
        ).annotate(
            rank=Case(
                When(username__iexact=text, then=Value(0)),
                When(username__istartswith=text, then=Value(1)),
                When(profile__display_name__istartswith=text, then=Value(1)),
                default=Value(2),
            )
        )
    else:
        users = users.annotate(rank=Value(0))
    shown = Lower(Coalesce(NullIf("profile__display_name", Value("")), "username"))
    if page < 1 or page > MAX_PEOPLE_PAGE:
        return {"results": [], "page": page, "has_more": False}
    start = (page - 1) * per_page
    rows = list(
        users.order_by("rank", shown, "username").values_list(*_PERSON_FIELDS)[
            start : start + per_page + 1
        ]
    )
    return {
        "results": [_person(*row) for row in rows[:per_page]],
        "page": page,
        "has_more": len(rows) > per_page,
    }


def person_by_username(username: str) -> PersonOut | None:
    """An active user as their profile card shows them; None for an unknown or
    deactivated username."""
    row = (
        User.objects.filter(username=username, is_active=True).values_list(*_PERSON_FIELDS).first()
    )
    return _person(*row) if row is not None else None


class ProfileEdit(TypedDict):
    display_name: str  # as typed ("" when none)
    has_avatar: bool
    profile: ProfileOut


def profile_for_edit(*, user: User) -> ProfileEdit:
    profile = Profile.objects.filter(user=user).first()
    display_name = profile.display_name if profile is not None else ""
    version = profile.version if profile is not None else 0
    return {
        "display_name": display_name,
        "has_avatar": bool(profile is not None and profile.avatar),
        "profile": profile_out(
            user.get_username(), display_name, version, profile is not None and profile.is_bot
        ),
    }


def profile_theme(*, user_id: int) -> str:
    """The user's colour theme for base.html's <html data-theme>: "system" when unset."""
    theme = Profile.objects.filter(user_id=user_id).values_list("theme", flat=True).first()
    return theme or "system"


def profile_timezone(*, user_id: int) -> str:
    zone = Profile.objects.filter(user_id=user_id).values_list("timezone", flat=True).first()
    return zone or ""


def avatar_file(*, username: str) -> tuple[ProfileOut, str] | None:
    """An active user's profile and the storage name of their uploaded avatar ("" for
    the initials avatar); None when there is no such user."""
    row = (
        User.objects.filter(username=username, is_active=True)
        .values_list(
            "username",
            "profile__display_name",
            "profile__version",
            "profile__is_bot",
            "profile__avatar",
        )
        .first()
    )
    if row is None:
        return None
    name, display_name, version, bot, avatar = row
    return profile_out(name, display_name, version, bot), avatar or ""


# --- invitations ----------------------------------------------------------------------

InvitationState = Literal["valid", "unknown", "expired", "used", "revoked"]


def invitation_state(invitation: Invitation | None) -> InvitationState:
    if invitation is None:
        return "unknown"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.uses >= invitation.max_uses:
        return "used"
    if invitation.expires_at <= timezone.now():
        return "expired"
    return "valid"


def invitation_by_digest(*, digest: str) -> Invitation | None:
    """The invitation with this SHA-256 (an indexed equality: the database compares
    digests, never the secret, so timing tells nothing about a valid token)."""
    return Invitation.objects.filter(digest=digest).first()


class InvitationOut(TypedDict):
    id: int
    prefix: str
    note: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    state: InvitationState
    rooms: list[str]
    used_by: list[str]


def invitation_list(*, user: User) -> list[InvitationOut]:
    """Invitations the user may see and revoke: all for staff, their own otherwise."""
    found = Invitation.objects.select_related("created_by").prefetch_related("rooms", "use_set")
    if not user.is_staff:
        found = found.filter(created_by=user)
    return [
        {
            "id": invitation.pk,
            "prefix": invitation.prefix,
            "note": invitation.note,
            "created_by": invitation.created_by.get_username() if invitation.created_by else None,
            "created_at": invitation.created_at,
            "expires_at": invitation.expires_at,
            "max_uses": invitation.max_uses,
            "uses": invitation.uses,
            "state": invitation_state(invitation),
            "rooms": sorted(room.slug for room in invitation.rooms.all()),
            "used_by": [use.username for use in invitation.use_set.all()],
        }
        for invitation in found[:200]
    ]


# --- sessions -------------------------------------------------------------------------


def session_keys(*, user_id: int, keep: str | None = None) -> list[str]:
    """The session keys of the user's logins (since accounts/ was installed), except
    `keep`."""
    keys = SessionRecord.objects.filter(user_id=user_id).values_list("session_key", flat=True)
    return sorted(key for key in keys if key != keep)


SESSION_CHECK_CHUNK = 500  # sessions read per query by sessions_invalid


def sessions_invalid(*, sockets: list[tuple[str | None, int]]) -> dict[tuple[str | None, int], int]:
    """Which of these (session key, user id) pairs behind open sockets no longer hold:
    the close code for each that does not (4403: the account is inactive; 4401: the
    session is gone, expired, belongs to someone else or predates a password change).

    For sessions removed or changed without Django's auth (a bulk delete, clearsessions,
    expiry, QuerySet.update): two queries per SESSION_CHECK_CHUNK sockets, whatever the
    number of connections. Only database-backed session engines can be checked; with
    any other, only the account's state is."""
    out: dict[tuple[str | None, int], int] = {}
    pairs = list(dict.fromkeys(sockets))
    for start in range(0, len(pairs), SESSION_CHECK_CHUNK):
        chunk = pairs[start : start + SESSION_CHECK_CHUNK]
        users = {
            user.pk: user
            for user in User.objects.filter(pk__in={user_id for _, user_id in chunk}).only(
                "pk", "is_active", "password"
            )
        }
        keys = [key for key, _ in chunk if key]
        stored: dict[str, str] | None = None
        if session_db.table_backed():
            stored = dict(
                Session.objects.filter(
                    session_key__in=keys, expire_date__gt=timezone.now()
                ).values_list("session_key", "session_data")
            )
        engine = import_module(settings.SESSION_ENGINE).SessionStore()
        for key, user_id in chunk:
            user = users.get(user_id)
            if user is None or not user.is_active:
                out[(key, user_id)] = CloseCode.FORBIDDEN  # the account is inactive
                continue
            if stored is None or key is None:
                continue
            raw = stored.get(key)
            data = engine.decode(raw) if raw is not None else {}
            session_hash = data.get(HASH_SESSION_KEY)
            if (
                str(data.get(SESSION_KEY)) != str(user_id)
                or not isinstance(session_hash, str)
                or not constant_time_compare(session_hash, user.get_session_auth_hash())
            ):
                out[(key, user_id)] = CloseCode.UNAUTHENTICATED  # the login session is over
    return out


def email_in_use(email: str) -> bool:
    """Whether an account has this address (case-insensitive): a mailed sign-up link
    for it has been used, or the address belongs to someone already."""
    return User.objects.filter(email__iexact=email.strip()).exists()
