"""The room's settings page (/chat/<slug>/settings/): how long its messages are kept.
Its owner may only shorten the site's span (CHAT_RETENTION_DAYS); staff set any span
here or in the admin. Rules in room_retention_set; the page is thin."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from chat.models import Room
from chat.services import audit_record
from dataport.retention import retention_days

MAX_RETENTION_DAYS = 36_500  # a hundred years: a typo, not a policy


class RetentionRefused(Exception):
    """The value is not one this person may set; the message says why."""


def room_may_manage(room: Room, user: User) -> bool:
    return user.is_staff or (room.created_by_id is not None and room.created_by_id == user.pk)


@transaction.atomic
def room_retention_set(*, room: Room, user: User, days: int | None) -> None:
    """Set the room's span (None: the site's). Staff: anything. The owner: shorter
    than the site's only, and never over a span staff chose that is longer."""
    site = settings.CHAT_RETENTION_DAYS
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise RetentionRefused(f"Choose between 1 and {MAX_RETENTION_DAYS} days.")
    if not user.is_staff:
        if not room_may_manage(room, user):
            raise RetentionRefused("Only the room's owner or staff may change this.")
        current = room.retention_days
        if current is not None and site is not None and current > site:
            raise RetentionRefused("Staff chose this room's span; ask them to change it.")
        if days is not None and site is not None and days >= site:
            raise RetentionRefused(f"You can only keep messages for less than {site} days.")
    room.retention_days = days
    room.save(update_fields=["retention_days"])
    audit_record(
        actor=user,
        action="room.retention",
        target=room.slug,
        reason=f"{days} days" if days is not None else "the site's setting",
    )


@login_required
def room_settings(request: HttpRequest, slug: str) -> HttpResponse:
    room = Room.objects.filter(slug=slug).first()
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required
    if room is None or not room_may_manage(room, user):
        raise Http404("No such room.")
    error = ""
    if request.method == "POST":
        raw = request.POST.get("retention_days", "").strip()
        try:
            days = int(raw) if raw else None
            room_retention_set(room=room, user=user, days=days)
            return redirect("room_settings", slug=slug)
        except ValueError:
            error = "A number of days, or empty for the site's setting."
        except RetentionRefused as refused:
            error = str(refused)
        room.refresh_from_db()
    return render(
        request,
        "dataport/room_settings.html",
        {
            "room": room,
            "site_days": settings.CHAT_RETENTION_DAYS,
            "effective_days": retention_days(room.retention_days),
            "error": error,
        },
    )
