"""Missed-messages email: mentions, direct messages and replies in followed threads
still unread CHAT_EMAIL_MISSED_DELAY_SECONDS after the first of them, gathered into one
email per user. Never tells of a message the user has read, cannot read any more, or was told of
(MissedEmailState.emailed_through); never sends one email twice on purpose (see
docs/architecture.md, "Background jobs", for the one window left).
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from chat.content.rendering import plain_line
from chat.models import Membership, Mention, Message, Sanction, ThreadFollow
from notify.models import MissedEmailState

logger = logging.getLogger(__name__)

# Messages listed in one email (the newest); the rest are counted, not listed.
MAX_LISTED = 50
EXCERPT_CHARS = 200
# A due time this far past means its job failed for good (a crash the reaper could not
# cover, a bug): the next mention schedules the email again instead of never.
STALE_DUE_SECONDS = 3600
# Levels under which a member still hears of mentions and direct messages.
_LISTENING = [
    Membership.NotifyLevel.DEFAULT,
    Membership.NotifyLevel.ALL,
    Membership.NotifyLevel.MENTIONS,
]


@dataclass(frozen=True, slots=True)
class MissedItem:
    id: int
    room_name: str
    is_direct: bool
    author: str
    created_at: datetime
    excerpt: str
    url: str
    thread_excerpt: str | None = None  # a reply in a thread: its root's start ("" deleted)


def missed_schedule(user_ids: list[int]) -> None:
    """Start the delay for each user without an email pending, and queue ONE job for
    them at the due time. A constant number of queries whatever the number of users
    (@room in a big room): the UPDATE marks them with this call's own due time, so the
    users it claimed are read back without a race against another call."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    from notify.tasks import missed_emails  # tasks import this module

    now = timezone.now()
    due = now + timedelta(seconds=settings.CHAT_EMAIL_MISSED_DELAY_SECONDS)
    stale = now - timedelta(seconds=STALE_DUE_SECONDS)
    with transaction.atomic():
        MissedEmailState.objects.bulk_create(
            [MissedEmailState(user_id=uid) for uid in ids], ignore_conflicts=True
        )
        MissedEmailState.objects.filter(
            Q(email_due_at__isnull=True) | Q(email_due_at__lt=stale), user_id__in=ids
        ).update(email_due_at=due)
        scheduled = list(
            MissedEmailState.objects.filter(user_id__in=ids, email_due_at=due).values_list(
                "user_id", flat=True
            )
        )
        if scheduled:
            # Same database, same transaction: the due time and its job exist together.
            missed_emails.using(run_after=due).enqueue(user_ids=sorted(scheduled))


def missed_send_due(user_ids: list[int]) -> None:
    """The job: send each of these users their email if it is due. One SMTP connection
    for all; one transaction per user that holds their state row's lock across the send,
    so a duplicate run (a reaped job whose first run still lives) waits, then finds the
    due time cleared and sends nothing."""
    now = timezone.now()
    due = list(
        MissedEmailState.objects.filter(user_id__in=user_ids, email_due_at__lte=now)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
    if not due:
        return
    # Connected before any row is locked: greeting, TLS and login hold no lock.
    connection = get_connection()
    try:
        connection.open()
    except (OSError, smtplib.SMTPException):
        logger.exception("missed-messages email: no SMTP server; %d retried later", len(due))
        _retry_later(due)
        return
    retry: list[int] = []
    try:
        for user_id in due:
            try:
                _send_one(user_id, connection)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused):
                logger.warning("missed-messages email to user %d refused: dropped", user_id)
                MissedEmailState.objects.filter(user_id=user_id).update(email_due_at=None)
            except (OSError, smtplib.SMTPException):
                logger.exception("missed-messages email to user %d failed: retried", user_id)
                retry.append(user_id)
                connection.close()  # the next send connects again
    finally:
        connection.close()
    if retry:
        _retry_later(retry)


def _send_one(user_id: int, connection: BaseEmailBackend) -> None:
    with transaction.atomic():
        state = (
            MissedEmailState.objects.select_for_update()
            .filter(user_id=user_id, email_due_at__lte=timezone.now())
            .first()
        )
        if state is None:  # sent by a duplicate run meanwhile, or due again later
            return
        state.email_due_at = None
        found = (
            User.objects.filter(pk=user_id)
            .values_list(
                "username",
                "email",
                "is_active",
                "notify_prefs__email_missed",
                "notify_prefs__thread_replies",
            )
            .first()
        )
        items: list[MissedItem] = []
        more = 0
        # No prefs row: the defaults, email on, thread replies on.
        if found is not None and found[1] and found[2] and found[3] is not False:
            items, more = missed_items(
                user_id, after_id=state.emailed_through, thread_replies=found[4] is not False
            )
        if found is not None and items:
            first, last = state.emailed_through, max(item.id for item in items)
            mail = _message(found[0], found[1], items, more, _message_id(user_id, first, last))
            connection.send_messages([mail])
            # Committed just after the server's 250: a retry never tells of these again.
            state.emailed_through = last
        state.save(update_fields=["email_due_at", "emailed_through"])


def missed_items(
    user_id: int, *, after_id: int, thread_replies: bool = True
) -> tuple[list[MissedItem], int]:
    """What the user has left unread and may still read, newer than `after_id`: the
    messages that mention them (by name, @here, @room), those of their direct
    conversations and (`thread_replies`) the replies in threads they follow, not deleted
    or hidden, in rooms where they are a member, not banned, not at level "nothing" (a
    followed thread of a public room counts without membership). The newest
    MAX_LISTED, and how many more there are (four queries)."""
    now = timezone.now()
    banned = Sanction.objects.filter(
        Q(room_id=OuterRef("room_id")) | Q(room__isnull=True),
        user_id=user_id,
        kind=Sanction.Kind.BAN,
        lifted_at__isnull=True,
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    # A reply kept in its thread is read in the thread, not the room: replies() has it.
    in_room = Q(message__thread__isnull=True) | Q(message__also_to_room=True)
    # One filter() per relation, so the membership tested is the user's own (one join).
    mentioned = (
        Mention.objects.filter(
            user_id=user_id,
            message_id__gt=after_id,
            message__deleted_at__isnull=True,
            room__memberships__user_id=user_id,
            room__memberships__last_read_seq__lt=F("seq"),
            room__memberships__notify_level__in=_LISTENING,
        )
        .filter(in_room)
        .exclude(Q(message__author_id=user_id) | Exists(banned))
    )
    # Direct messages, and @room ones (they mention every member without Mention rows,
    # chat/services/mentioning.py): one filter(), so the membership joined is one.
    direct = (
        Message.objects.filter(
            Q(room__is_direct=True) | Q(group_mention="room"),
            Q(thread__isnull=True) | Q(also_to_room=True),
            id__gt=after_id,
            deleted_at__isnull=True,
            room__memberships__user_id=user_id,
            room__memberships__last_read_seq__lt=F("seq"),
            room__memberships__notify_level__in=_LISTENING,
        )
        .exclude(author_id=user_id)
        .exclude(Exists(banned))
    )
    threaded = _replies(user_id, after_id=after_id, banned=banned, thread_replies=thread_replies)
    newest = MAX_LISTED + 1  # one more than listed tells whether any is left out
    found = set(mentioned.order_by("-message_id").values_list("message_id", flat=True)[:newest])
    found |= set(direct.order_by("-id").values_list("id", flat=True)[:newest])
    found |= set(threaded.order_by("-id").values_list("id", flat=True)[:newest])
    listed = sorted(found)[-MAX_LISTED:]
    more = _count(mentioned, direct, threaded) - len(listed) if len(found) > MAX_LISTED else 0
    return _rows(Message.objects.filter(pk__in=listed)), more


def _replies(
    user_id: int, *, after_id: int, banned: QuerySet[Sanction], thread_replies: bool
) -> QuerySet[Message]:
    """Replies in threads the user may read that are for them (a thread they follow,
    a mention, or a direct conversation's reply also sent there), unread in the thread
    (nor, for one also sent to the room, in the room)."""
    member = Membership.objects.filter(room_id=OuterRef("room_id"), user_id=user_id)
    follow = ThreadFollow.objects.filter(thread_id=OuterRef("thread_id"), user_id=user_id)
    # Each reason an IN over the user's own rows (their mentions, rooms, follows), so
    # the database starts from those indexes, never from every reply there is.
    rooms = Membership.objects.filter(user_id=user_id)
    wanted = (
        Q(
            pk__in=Mention.objects.filter(user_id=user_id, message_id__gt=after_id).values(
                "message_id"
            )
        )
        | Q(room_id__in=rooms.values("room_id"), group_mention="room")
        | Q(room_id__in=rooms.filter(room__is_direct=True).values("room_id"), also_to_room=True)
    )
    if thread_replies:
        followed = ThreadFollow.objects.filter(user_id=user_id, following=True)
        wanted |= Q(thread_id__in=followed.values("thread_id"))
    return (
        Message.objects.filter(
            thread__isnull=False,
            id__gt=after_id,
            deleted_at__isnull=True,
        )
        # Readable: a member (at a level that listens), or a public room's reader.
        .filter(
            Exists(member.filter(notify_level__in=_LISTENING))
            | (Q(room__is_private=False) & ~Exists(member))
        )
        .filter(wanted)
        .exclude(author_id=user_id)
        .exclude(Exists(banned))
        .exclude(Exists(follow.filter(last_read_seq__gte=OuterRef("seq"))))
        .exclude(Q(also_to_room=True) & Exists(member.filter(last_read_seq__gte=OuterRef("seq"))))
    )


def _count(
    mentioned: QuerySet[Mention], direct: QuerySet[Message], threaded: QuerySet[Message]
) -> int:
    ids = Message.objects.filter(
        Q(pk__in=mentioned.values("message_id"))
        | Q(pk__in=direct.values("id"))
        | Q(pk__in=threaded.values("id"))
    )
    return ids.count()


def _rows(messages: QuerySet[Message]) -> list[MissedItem]:
    site = settings.CHAT_SITE_URL
    found = messages.order_by("created_at", "id").values_list(
        "id",
        "seq",
        "body",
        "created_at",
        "room__slug",
        "room__name",
        "room__is_direct",
        "author__username",
        "thread_id",
        "thread__body",
        "thread__deleted_at",
    )
    return [
        MissedItem(
            id=pk,
            room_name=name,
            is_direct=is_direct,
            author=author or "",
            created_at=created_at,
            excerpt=_excerpt(body),
            # A reply opens its thread; any other message, its place in the room.
            url=f"{site}{reverse('chat:room', args=[slug])}?"
            + (f"thread={root}" if root is not None else f"seq={seq}"),
            thread_excerpt=(
                None if root is None else _excerpt(root_body) if root_deleted is None else ""
            ),
        )
        for (
            pk,
            seq,
            body,
            created_at,
            slug,
            name,
            is_direct,
            author,
            root,
            root_body,
            root_deleted,
        ) in found
    ]


def _excerpt(body: str) -> str:
    return plain_line(body, EXCERPT_CHARS)  # as the page shows it: no Markdown marks


def _message_id(user_id: int, first: int, last: int) -> str:
    """The same for a resend of the same email (a retry in the window after the
    server's reply), so mail clients can fold the duplicate."""
    domain = urlsplit(settings.CHAT_SITE_URL).hostname or "localhost"
    return f"<missed-{user_id}-{first}-{last}@{domain}>"


def _message(
    username: str, address: str, items: list[MissedItem], more: int, message_id: str
) -> EmailMultiAlternatives:
    site = settings.CHAT_SITE_URL
    count = len(items) + more
    context = {
        "username": username,
        "items": items,
        "more": more,
        "count": count,
        "settings_url": f"{site}{reverse('notify-settings')}",
        "site_url": site or "/",
    }
    subject = f"{count} unread message{'s' if count != 1 else ''} for you in the chat"
    mail = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notify/missed_email.txt", context),
        to=[address],
        headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
    )
    mail.attach_alternative(render_to_string("notify/missed_email.html", context), "text/html")
    return mail


def _retry_later(user_ids: list[int]) -> None:
    """Failed to send (server away, a 4xx): try once more a delay later, with a job of
    their own; the messages still unread then are the ones sent."""
    from notify.tasks import missed_emails

    due = timezone.now() + timedelta(seconds=settings.CHAT_EMAIL_MISSED_DELAY_SECONDS)
    with transaction.atomic():
        MissedEmailState.objects.filter(user_id__in=user_ids).update(email_due_at=due)
        missed_emails.using(run_after=due).enqueue(user_ids=user_ids)
