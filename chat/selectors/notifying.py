"""What a user wants to be notified of (global preferences, chat.NotifyPrefs) and who
they can mention (the composer's completion)."""

from typing import TypedDict

from django.db.models import Q

from accounts.selectors import ProfileOut, profile_out
from chat.models import Membership, NotifyPrefs


class NotifyPrefsOut(TypedDict):
    paused_until: str | None  # ISO 8601; do not disturb until then (may be past)
    email_missed: bool
    thread_replies: bool  # be told of every reply in the threads one follows


def notify_prefs(user_id: int) -> NotifyPrefsOut:
    found = NotifyPrefs.objects.filter(user_id=user_id).values_list(
        "paused_until", "email_missed", "thread_replies"
    )
    for paused_until, email_missed, thread_replies in found:
        return {
            "paused_until": paused_until.isoformat() if paused_until is not None else None,
            "email_missed": email_missed,
            "thread_replies": thread_replies,
        }
    return {"paused_until": None, "email_missed": True, "thread_replies": True}


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
