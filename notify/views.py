"""The notification settings page (/notifications/): missed-messages email on or off,
replies in followed threads on or off, and do not disturb. Saved through
chat.services.notify_prefs_set, so every open tab and device of the user hears of the
change at once. Per-room levels are set in rooms."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from chat import selectors, services

PAUSE_HOURS = {"1h": 1, "8h": 8}
# "Until tomorrow" ends at this hour of the user's own morning.
TOMORROW_HOUR = 8
# The longest pause a date may ask for: past it, the choice is "email off" instead.
MAX_PAUSE_DAYS = 365


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


def _zone(name: str) -> ZoneInfo:
    """The browser's time zone (notify/static/notify/settings.js fills it in), else UTC."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def pause_end(choice: str, until: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When do not disturb ends for a choice of the form; None: off. ValueError: a
    date that is not one, in the past or too far."""
    if choice in PAUSE_HOURS:
        return now + timedelta(hours=PAUSE_HOURS[choice])
    if choice == "tomorrow":
        day = now.astimezone(zone).date() + timedelta(days=1)
        return datetime.combine(day, time(TOMORROW_HOUR), tzinfo=zone)
    if choice == "until":
        end = datetime.fromisoformat(until)  # datetime-local: no zone, the user's own
        end = end.replace(tzinfo=zone) if end.tzinfo is None else end
        if not now < end <= now + timedelta(days=MAX_PAUSE_DAYS):
            raise ValueError("out of range")
        return end
    if choice == "off":
        return None
    raise ValueError("unknown choice")


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    error = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "email":
            on = request.POST.get("email_missed") == "on"
            services.notify_prefs_set(user=user, email_missed=on)
            return redirect(reverse("notify-settings") + "?saved=email")
        if action == "threads":
            on = request.POST.get("thread_replies") == "on"
            services.notify_prefs_set(user=user, thread_replies=on)
            return redirect(reverse("notify-settings") + "?saved=threads")
        if action == "pause":
            try:
                end = pause_end(
                    request.POST.get("pause", ""),
                    request.POST.get("until", ""),
                    _zone(request.POST.get("tz", "")),
                    timezone.now(),
                )
            except ValueError:
                error = "Choose a time in the future, within a year."
            else:
                services.notify_prefs_set(user=user, paused_until=end)
                return redirect(reverse("notify-settings") + "?saved=pause")
        else:
            error = "Unknown action."
    prefs = selectors.notify_prefs(user.pk)
    paused_until = prefs["paused_until"]
    paused = paused_until is not None and datetime.fromisoformat(paused_until) > timezone.now()
    context = {
        "email_missed": prefs["email_missed"],
        "thread_replies": prefs["thread_replies"],
        "paused_until": paused_until if paused else None,
        "has_address": bool(user.email),
        "saved": request.GET.get("saved", ""),
        "error": error,
    }
    return render(request, "notify/settings.html", context, status=400 if error else 200)
