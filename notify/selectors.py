"""Reads for notifications: who is to be told of a message, in a bounded number of
queries whatever the room's size (two: the message, then its recipients)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from chat.content.rendering import plain_line
from chat.models import Membership, Mention, Message, Sanction
from notify import levels

EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class MessageBrief:
    id: int
    room_id: int
    room_slug: str
    room_name: str
    is_direct: bool
    seq: int
    author: str  # username ("" for a system message)
    excerpt: str  # the start of the body, plain text
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    username: str
    email: str
    mentioned: bool
    level: levels.Level
    paused: bool  # do not disturb: no push or browser notification now
    email_missed: bool


def notify_targets(
    message_id: int, only_users: list[int] | None = None
) -> tuple[MessageBrief, list[Recipient]] | None:
    """The message and every member the notification levels ask to tell about it, read
    now: a deleted or hidden message has none; members who read past it, left, were
    banned or deactivated, or silenced the room are not among them. None: no message."""
    message = (
        Message.objects.filter(pk=message_id, deleted_at__isnull=True)
        .select_related("room", "author")
        .first()
    )
    if message is None:
        return None
    room = message.room
    brief = MessageBrief(
        id=message.pk,
        room_id=room.pk,
        room_slug=room.slug,
        room_name=room.name,
        is_direct=room.is_direct,
        seq=message.seq,
        author=message.author.get_username() if message.author is not None else "",
        excerpt=plain_line(message.body, EXCERPT_CHARS),  # as the page shows it, no marks
        created_at=message.created_at,
    )
    now = timezone.now()
    banned = Sanction.objects.filter(
        Q(room_id=room.pk) | Q(room__isnull=True),
        user_id=OuterRef("user_id"),
        kind=Sanction.Kind.BAN,
        lifted_at__isnull=True,
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    members = Membership.objects.filter(
        room_id=room.pk, user__is_active=True, last_read_seq__lt=message.seq
    )
    if message.author_id is not None:
        members = members.exclude(user_id=message.author_id)
    rows = (
        members.exclude(notify_level=Membership.NotifyLevel.NOTHING)
        .annotate(
            mentioned=Exists(
                Mention.objects.filter(message_id=message.pk, user_id=OuterRef("user_id"))
            ),
            banned=Exists(banned),
        )
        .filter(banned=False)
        .values_list(
            "user_id",
            "user__username",
            "user__email",
            "mentioned",
            "notify_level",
            "user__notify_prefs__paused_until",
            "user__notify_prefs__email_missed",
        )
    )
    if only_users is not None:
        rows = rows.filter(user_id__in=only_users)
    recipients = []
    everyone = message.group_mention == "room"  # @room: no rows, every member mentioned
    for user_id, username, email, named, stored, paused_until, email_missed in rows:
        mentioned = named or everyone
        level = levels.effective_level(stored, is_direct=room.is_direct)
        if not levels.wants(level, mentioned=mentioned):
            continue
        recipients.append(
            Recipient(
                user_id=user_id,
                username=username,
                email=email or "",
                mentioned=mentioned,
                level=level,
                paused=levels.paused(paused_until, now),
                email_missed=email_missed is not False,  # no prefs row: the default, on
            )
        )
    return brief, recipients
