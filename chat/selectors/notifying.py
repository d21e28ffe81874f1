"""What a user wants to be notified of (global preferences, chat.NotifyPrefs) and who
they can mention (the composer's completion)."""

from datetime import datetime
from typing import TypedDict

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q

from accounts.models import Profile
from accounts.selectors import ProfileOut, profile_out
from chat.models import Membership, NotifyPrefs
from chat.selectors.message_rows import aware


class NotifyPrefsOut(TypedDict):
    paused_until: str | None  # ISO 8601; do not disturb until then (may be past)
    email_missed: bool
    thread_replies: bool  # be told of every reply in the threads one follows


def notify_prefs(user_id: int) -> NotifyPrefsOut:
    found = NotifyPrefs.objects.filter(user_id=user_id).values_list(
        "paused_until", "email_missed", "thread_replies"
    )
    for paused_until, email_missed, thread_replies in found:
        return _prefs_out(paused_until, email_missed, thread_replies)
    return _prefs_out(None, None, None)


def _prefs_out(
    paused_until: datetime | str | None, email_missed: bool | None, thread_replies: bool | None
) -> NotifyPrefsOut:
    """A row's preferences; None in the flags: the user has no row (the defaults)."""
    return {
        "paused_until": aware(paused_until).isoformat() if paused_until is not None else None,
        "email_missed": True if email_missed is None else bool(email_missed),
        "thread_replies": True if thread_replies is None else bool(thread_replies),
    }


def user_profile_and_prefs(user_id: int) -> tuple[ProfileOut | None, NotifyPrefsOut]:
    """hello's `user` and `notify` in one plain statement (None: no such user): it is
    read on every connect, where the two ORM queries cost ~0.7 ms of CPU."""
    q = connection.ops.quote_name
    user, profile, prefs = (q(model._meta.db_table) for model in (User, Profile, NotifyPrefs))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.username, p.display_name, p.version, p.is_bot,"  # noqa: S608 - table names
            f" n.paused_until, n.email_missed, n.thread_replies FROM {user} u"
            f" LEFT JOIN {profile} p ON p.user_id = u.id"
            f" LEFT JOIN {prefs} n ON n.user_id = u.id WHERE u.id = %s",
            [user_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None, _prefs_out(None, None, None)
    username, name, version, bot, paused_until, email_missed, thread_replies = row
    return (
        profile_out(username, name, version, bot),
        _prefs_out(paused_until, email_missed, thread_replies),
    )


MEMBER_SUGGESTIONS = 8


def room_members_matching(*, room_id: int, prefix: str) -> list[ProfileOut]:
    """Members of the room for the composer's @ completion: username starting with the
    prefix, or a display name containing it (case-insensitive), active users only,
    usernames first. At most MEMBER_SUGGESTIONS; one query."""
    members = Membership.objects.filter(room_id=room_id, user__is_active=True)
    if prefix:
        members = members.filter(
            Q(user__username__istartswith=prefix) | Q(user__profile__display_name__icontains=prefix)
        )
    rows = members.order_by("user__username").values_list(
        "user__username",
        "user__profile__display_name",
        "user__profile__version",
        "user__profile__is_bot",
    )[: MEMBER_SUGGESTIONS * 2]
    found = [profile_out(*row) for row in rows]
    # Names that start with what was typed come before the ones that merely contain it.
    lowered = prefix.lower()
    found.sort(key=lambda p: not p["username"].lower().startswith(lowered))
    return found[:MEMBER_SUGGESTIONS]
