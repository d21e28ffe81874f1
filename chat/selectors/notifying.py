"""What a user wants to be notified of: global preferences (chat.NotifyPrefs)."""

from typing import TypedDict

from chat.models import NotifyPrefs


class NotifyPrefsOut(TypedDict):
    paused_until: str | None  # ISO 8601; do not disturb until then (may be past)
    email_missed: bool


def notify_prefs(user_id: int) -> NotifyPrefsOut:
    found = NotifyPrefs.objects.filter(user_id=user_id).values_list("paused_until", "email_missed")
    for paused_until, email_missed in found:
        return {
            "paused_until": paused_until.isoformat() if paused_until is not None else None,
            "email_missed": email_missed,
        }
    return {"paused_until": None, "email_missed": True}
