"""Messages once saved: edit, delete, scrollback, and the rules every new message
shares (its body, what it may reply to). Saving is chat/services/posting.py's, the one
write path; files and images are prepared in chat/services/files.py."""

import contextlib
import logging
import re

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat import events, selectors
from chat.content import mentions, rendering
from chat.errors import ChatError
from chat.models import (
    Attachment,
    Mention,
    Message,
    MessageEdit,
    Thread,
)
from chat.protocol.codes import ErrorCode
from chat.selectors import MessageOut, message_out
from chat.selectors.message_rows import thread_summary
from chat.services import reading
from chat.services.access import access_require_read, access_require_write
from chat.services.mentioning import Mentioned, mention_ids, mentions_find
from chat.services.moderation import audit_record
from chat.services.threads import reply_changed, thread_followed_by_mention

logger = logging.getLogger(__name__)

BAD_REPLY = "You can only reply to a message of this room that is shown."


# Lone UTF-16 surrogates: not encodable as UTF-8 (a regex, not a loop over the chars:
# this runs for every message saved).
_UNSTORABLE = re.compile("[\ud800-\udfff]")


def message_body_clean(body: str, *, allow_empty: bool = False) -> str:
    """The body as it will be stored, or ChatError. Shared by every entry point (an
    image message may have an empty caption)."""
    if not body.strip() and not allow_empty:
        raise ChatError(ErrorCode.EMPTY_BODY, "A message cannot be empty.")
    # JSON can carry what no database stores: NUL (PostgreSQL text) and lone UTF-16
    # surrogates (not encodable as UTF-8). Refuse them as input, not as a server fault.
    if "\x00" in body or (not body.isascii() and _UNSTORABLE.search(body)):
        raise ChatError(ErrorCode.BAD_BODY, "A message cannot contain NUL or unpaired surrogates.")
    limit = settings.CHAT_MAX_BODY_CHARS
    if len(body) > limit:
        raise ChatError(ErrorCode.BODY_TOO_LONG, f"A message can have at most {limit} characters.")
    return body


def replies_check(wanted: dict[int, int]) -> dict[int, Message]:
    """Of the messages asked for (id -> the room the reply is in), those that may be
    answered: in that room and not deleted. One query however many."""
    if not wanted:
        return {}
    found = Message.objects.select_related("author").filter(
        pk__in=list(wanted), deleted_at__isnull=True
    )
    return {message.pk: message for message in found if wanted[message.pk] == message.room_id}


def message_edit(*, message_id: int, user: User, body: str) -> MessageOut:
    """The author changes their message; the old text is kept for staff."""
    body = message_body_clean(body)
    message = _own_message(message_id=message_id, user=user)
    access_require_write(room_id=message.room_id, user=user)
    # Before the transaction: @here asks presence (Redis) who is online.
    mentioned = mentions_find(room_id=message.room_id, author=user, body=body)
    return _message_edit_save(message_id=message_id, user=user, body=body, mentioned=mentioned)


@transaction.atomic
def _message_edit_save(
    *, message_id: int, user: User, body: str, mentioned: Mentioned
) -> MessageOut:
    message = _own_message(message_id=message_id, user=user)  # still there, still theirs
    MessageEdit.objects.create(message=message, body=message.body)
    before = set(Mention.objects.filter(message=message).values_list("user_id", flat=True))
    was_room = message.group_mention == mentions.ROOM
    is_room = mentioned.group == mentions.ROOM
    message.body = body
    message.edited_at = timezone.now()
    message.mentions = list(mentioned.names)
    message.group_mention = mentioned.group
    message.html = rendering.render(body, mentions=mentioned.names, group_mention=mentioned.group)
    message.save(update_fields=["body", "edited_at", "mentions", "group_mention", "html"])
    after = mention_ids(message, mentioned)
    Mention.objects.filter(message=message, user_id__in=before - after).delete()
    added = sorted(after - before)
    Mention.objects.bulk_create(
        [
            Mention(message=message, user_id=uid, room_id=message.room_id, seq=message.seq)
            for uid in added
        ]
    )
    # A reply: the newly @named follow its thread; counts change for whoever's mentions did.
    thread_followed_by_mention(message, [u for u in added if u in mentioned.names.values()])
    if before != after or was_room != is_room:
        reply_changed(message, user_ids=None if was_room != is_room else sorted(before ^ after))
    # Newly mentioned people are notified; those no longer mentioned are not.
    if is_room and not was_room:
        events.notify_on_commit([{"message_id": message.pk, "users": None}])
    elif added:
        events.notify_on_commit([{"message_id": message.pk, "users": added}])
    attachment = None
    with contextlib.suppress(Attachment.DoesNotExist):
        attachment = message.attachment  # an image's caption was edited: the image stays
    # Its reactions stay too (`me` False: the frame goes to everyone).
    reactions = selectors.reactions_for([message.pk]).get(message.pk, [])
    payload = message_out(
        message,
        room_slug=message.room.slug,
        author=user.get_username(),
        attachment=attachment,
        reactions=reactions,
        summary=thread_summary_of(message.pk),
    )
    room_id, slug = message.room_id, message.room.slug
    frame = {"type": "message.updated", "room": slug, "message": payload}
    events.publish_on_commit(events.room_frame(room_id, frame))
    # Someone mentioned, or no longer mentioned, counts it differently until they read it
    # (everyone who has not, when @room came or went).
    changed = None if was_room != is_room else sorted(before ^ after)
    reading.counts_publish(
        room_id=room_id,
        slug=slug,
        states=selectors.read_states(
            room_id=room_id,
            user_ids=changed,
            pointer_below=message.seq,
            exclude_user=message.author_id if changed is None else None,
        ),
    )
    return payload


@transaction.atomic
def message_delete(*, message_id: int, user: User, reason: str = "") -> None:
    """Delete (hide) a message: its author may, and staff may (a moderation action)."""
    message = (
        Message.objects.select_related("room")
        .filter(pk=message_id, deleted_at__isnull=True)
        .first()
    )
    if message is None or (message.author_id != user.pk and not user.is_staff):
        raise ChatError(ErrorCode.NOT_FOUND, "No such message of yours.")
    if message.author_id == user.pk:
        access_require_read(room_id=message.room_id, user=user)
    else:
        audit_record(
            actor=user,
            action="message.hide",
            target=f"{message.room.slug}#{message.seq}",
            reason=reason,
        )
    message_mark_deleted(message=message, by=user)


def message_mark_deleted(*, message: Message, by: User | None) -> None:
    """Hide `message` (its room selected with it), the caller having checked who may:
    message_delete's author or staff, or the erasure of a person (dataport/erase.py,
    by=None for the system). Clients see it go (message.deleted), its thread's summary
    and the unread counts follow, as for any deletion."""
    message.deleted_at = timezone.now()
    message.deleted_by = by
    message.save(update_fields=["deleted_at", "deleted_by"])
    frame = {
        "type": "message.deleted",
        "id": message.pk,
        "seq": message.seq,
        "room": message.room.slug,
    }
    room_id, slug = message.room_id, message.room.slug
    events.publish_on_commit(events.room_frame(room_id, frame))
    # A reply: its thread's summary and its followers' counts again.
    reply_changed(message)
    # Everyone who had it unread (not its author) counts one message, maybe a mention, less.
    reading.counts_publish(
        room_id=room_id,
        slug=slug,
        states=selectors.read_states(
            room_id=room_id, pointer_below=message.seq, exclude_user=message.author_id
        ),
    )


def _own_message(*, message_id: int, user: User) -> Message:
    message = (
        Message.objects.select_related("room", "reply_to__author")
        .filter(pk=message_id, author=user, deleted_at__isnull=True)
        .first()
    )
    if message is None:
        raise ChatError(ErrorCode.NOT_FOUND, "No such message of yours.")
    return message


def thread_summary_of(root_id: int) -> selectors.ThreadSummary | None:
    """A root's summary as saved (None: no reply yet)."""
    thread = Thread.objects.filter(root_id=root_id).first()
    if thread is None or thread.last_reply_at is None:
        return None
    return thread_summary(
        thread.replies, thread.last_reply_at, thread.participants, thread.last_seq
    )


def history_page(
    *,
    room_id: int,
    user: User,
    before: int | None,
    limit: int,
    after: int | None = None,
    around: int | None = None,
) -> list[MessageOut]:
    """Scrollback (`before`), reading forward (`after`) or a message with its context
    (`around`), authorized when asked (access may have been lost since connecting)."""
    access_require_read(room_id=room_id, user=user)
    return selectors.message_page(
        room_id=room_id,
        reader_id=user.pk,
        before=before,
        limit=limit,
        after=after,
        around=around,
        thread=None,
    )
