"""Reads for notifications: who is to be told of a message, in a bounded number of
queries whatever the room's size (two: the message, then its recipients; a reply in a
thread of a public room one more, for followers who never joined it)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone

from chat.content.rendering import plain_line
from chat.models import Membership, Mention, Message, Sanction, ThreadFollow
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
    thread: int | None = None  # a reply in a thread: the root's id
    thread_excerpt: str = ""  # the root's start, plain text ("" if the root was deleted)
    also_to_room: bool = False


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    username: str
    email: str
    mentioned: bool
    level: levels.Level
    paused: bool  # do not disturb: no push or browser notification now
    email_missed: bool
    follower: bool = False  # told of a reply because they follow its thread


# What every recipient is read with (a reply's recipients, with more after these).
MEMBER_COLUMNS = (
    "user_id",
    "user__username",
    "user__email",
    "mentioned",
    "notify_level",
    "user__notify_prefs__paused_until",
    "user__notify_prefs__email_missed",
)


def _recipient(
    user_id: int,
    username: str,
    email: str | None,
    mentioned: bool,
    level: levels.Level,
    paused_until: datetime | None,
    email_missed: bool | None,
    now: datetime,
    *,
    follower: bool = False,
) -> Recipient:
    return Recipient(
        user_id=user_id,
        username=username,
        email=email or "",
        mentioned=mentioned,
        level=level,
        paused=levels.paused(paused_until, now),
        email_missed=email_missed is not False,  # no prefs row: the default, on
        follower=follower,
    )


def notify_targets(
    message_id: int, only_users: list[int] | None = None
) -> tuple[MessageBrief, list[Recipient]] | None:
    """The message and every member the notification levels ask to tell about it, read
    now: a deleted or hidden message has none; members who read past it, left, were
    banned or deactivated, or silenced the room are not among them. A reply in a thread
    also tells the thread's followers (notify_reply_wanted). None: no message."""
    message = (
        Message.objects.filter(pk=message_id, deleted_at__isnull=True)
        .select_related("room", "author", "thread")
        .first()
    )
    if message is None:
        return None
    room = message.room
    root = message.thread
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
        thread=root.pk if root is not None else None,
        # A deleted or hidden root keeps its thread, never its text.
        thread_excerpt=(
            plain_line(root.body, EXCERPT_CHARS)
            if root is not None and root.deleted_at is None
            else ""
        ),
        also_to_room=message.also_to_room,
    )
    now = timezone.now()
    banned = Sanction.objects.filter(
        Q(room_id=room.pk) | Q(room__isnull=True),
        user_id=OuterRef("user_id"),
        kind=Sanction.Kind.BAN,
        lifted_at__isnull=True,
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    mention = Exists(Mention.objects.filter(message_id=message.pk, user_id=OuterRef("user_id")))
    members = Membership.objects.filter(room_id=room.pk, user__is_active=True)
    if root is None:
        members = members.filter(last_read_seq__lt=message.seq)
    if message.author_id is not None:
        members = members.exclude(user_id=message.author_id)
    members = (
        members.exclude(notify_level=Membership.NotifyLevel.NOTHING)
        .annotate(mentioned=mention, banned=Exists(banned))
        .filter(banned=False)
    )
    if only_users is not None:
        members = members.filter(user_id__in=only_users)
    if root is not None:
        return brief, _reply_recipients(
            message, brief, members, mention, Exists(banned), now, only_users
        )
    rows = members.values_list(*MEMBER_COLUMNS)
    recipients = []
    everyone = message.group_mention == "room"  # @room: no rows, every member mentioned
    for user_id, username, email, named, stored, paused_until, email_missed in rows:
        mentioned = named or everyone
        level = levels.effective_level(stored, is_direct=room.is_direct)
        if not levels.wants(level, mentioned=mentioned):
            continue
        recipients.append(
            _recipient(user_id, username, email, mentioned, level, paused_until, email_missed, now)
        )
    return brief, recipients


def _reply_recipients(
    message: Message,
    brief: MessageBrief,
    members: "QuerySet[Membership]",
    mention: Exists,
    banned: Exists,
    now: datetime,
    only_users: list[int] | None,
) -> list[Recipient]:
    """Who is told of a reply: the room's members (mentioned, following the thread, or
    at level `all` for a reply also sent to the room) and, in a public room, followers
    who never joined it (they may read it). One Recipient per person, however many
    reasons they have. Unread is the thread's pointer (or the room's, for a reply also
    shown in the room): the room's alone would say nothing of a reply not shown there."""
    root_id = brief.thread
    follows = ThreadFollow.objects.filter(thread_id=root_id, user_id=OuterRef("user_id"))
    following = Exists(follows.filter(following=True))
    thread_read = Subquery(follows.values("last_read_seq")[:1])
    everyone = message.group_mention == "room"
    wanted = Q(mentioned=True) | Q(following=True)
    if everyone or message.also_to_room:  # @room names all; `all` hears the room's lines
        wanted = Q()
    columns = (
        *MEMBER_COLUMNS,
        "user__notify_prefs__thread_replies",
        "following",
        "thread_read",
        "last_read_seq",
    )
    rows = list(
        members.annotate(following=following, thread_read=thread_read)
        .filter(wanted)
        .values_list(*columns)
    )
    if not brief.is_direct and not message.room.is_private:
        # A public room is readable without joining it: its followers are told too.
        outsiders = (
            ThreadFollow.objects.filter(thread_id=root_id, following=True, user__is_active=True)
            .exclude(user__chat_memberships__room_id=brief.room_id)
            .annotate(
                mentioned=mention,
                banned=banned,
                notify_level=Value(""),  # not a member: the room's default level
                thread_read=F("last_read_seq"),
                room_read=Value(None, output_field=IntegerField()),
            )
            .filter(banned=False)
        )
        if message.author_id is not None:
            outsiders = outsiders.exclude(user_id=message.author_id)
        if only_users is not None:
            outsiders = outsiders.filter(user_id__in=only_users)
        rows += outsiders.values_list(*columns[:-1], "room_read")
    recipients = []
    for (
        user_id,
        username,
        email,
        named,
        stored,
        paused_until,
        email_missed,
        thread_replies,
        follows_it,
        read_in_thread,
        read_in_room,
    ) in rows:
        if _read(message, thread_read=read_in_thread, room_read=read_in_room):
            continue
        mentioned = named or everyone
        follower = follows_it and thread_replies is not False  # no prefs row: on
        level = levels.effective_level(stored, is_direct=brief.is_direct)
        if not levels.wants_reply(
            level, mentioned=mentioned, following=follower, in_room=message.also_to_room
        ):
            continue
        recipients.append(
            _recipient(
                user_id,
                username,
                email,
                mentioned,
                level,
                paused_until,
                email_missed,
                now,
                follower=follower,
            )
        )
    return recipients


def _read(message: Message, *, thread_read: int | None, room_read: int | None) -> bool:
    """Whether the reader has seen the reply: in its thread, or in the room's timeline
    when it was also sent there."""
    if thread_read is not None and thread_read >= message.seq:
        return True
    return message.also_to_room and room_read is not None and room_read >= message.seq
