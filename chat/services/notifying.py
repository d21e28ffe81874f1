"""Notification wishes: the per-room level and the global preferences (do not disturb,
missed-messages email). Stored on the server and sent at once to every connection of
the user, so a change on one device holds on all of them."""

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F

from chat import events, selectors
from chat.errors import ChatError
from chat.models import Membership, NotifyPrefs, Room
from chat.protocol.codes import ErrorCode
from chat.selectors.notifying import NotifyPrefsOut, notify_prefs

LEVELS = frozenset(choice.value for choice in Membership.NotifyLevel)


@transaction.atomic
def notify_level_set(*, user: User, slug: str, level: str) -> str:
    """Set the user's level in a room they joined ("" puts back the default). Returns
    the level stored; every connection of the user gets `room.notify`."""
    if level not in LEVELS:
        raise ChatError(
            ErrorCode.BAD_LEVEL, 'The level must be "all", "mentions", "nothing" or "".'
        )
    room = selectors.room_get(slug=slug)
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    membership = (
        Membership.objects.select_for_update()
        .filter(room_id=room["id"], user=user)
        .only("id", "notify_level")
        .first()
    )
    if membership is None:
        raise ChatError(ErrorCode.NOT_JOINED, "You have not joined this room.")
    before = membership.notify_level
    if before != level:
        membership.notify_level = level
        membership.save(update_fields=["notify_level"])
        # The room's count of "all" members lets a plain message skip the notify job.
        change = (level == Membership.NotifyLevel.ALL) - (before == Membership.NotifyLevel.ALL)
        if change:
            Room.objects.filter(pk=room["id"]).update(
                notify_all_members=F("notify_all_members") + change
            )
    frame = {"type": "room.notify", "room": room["slug"], "level": level}
    events.publish_on_commit(events.user_frame(user.pk, frame))
    return level


class _Unset:
    pass


UNSET = _Unset()


@transaction.atomic
def notify_prefs_set(
    *,
    user: User,
    paused_until: datetime | _Unset | None = UNSET,
    email_missed: bool | _Unset = UNSET,
    thread_replies: bool | _Unset = UNSET,
) -> NotifyPrefsOut:
    """Change the user's global preferences; every connection gets `notify.prefs`."""
    prefs, _ = NotifyPrefs.objects.select_for_update().get_or_create(user=user)
    if not isinstance(paused_until, _Unset):
        prefs.paused_until = paused_until
    if not isinstance(email_missed, _Unset):
        prefs.email_missed = email_missed
    if not isinstance(thread_replies, _Unset):
        prefs.thread_replies = thread_replies
    prefs.save()
    out = notify_prefs(user.pk)
    frame = {"type": "notify.prefs", **out}
    events.publish_on_commit(events.user_frame(user.pk, frame))
    return out
