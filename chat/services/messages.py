"""Messages: post (idempotent by client_id, seq assigned in the saving transaction),
post system messages, edit, delete, scrollback (images and other files: services/files.py)."""

import contextlib
import logging
import uuid
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import events, selectors
from chat.content import images, mentions, rendering
from chat.errors import ChatError
from chat.models import (
    Attachment,
    Mention,
    Message,
    MessageEdit,
)
from chat.protocol.codes import ErrorCode
from chat.selectors import MessageOut, message_out
from chat.services import reading
from chat.services.access import access_require_read, access_require_write
from chat.services.mentioning import Mentioned, mention_ids, mention_rows_add, mentions_find
from chat.services.moderation import audit_record
from chat.services.seqs import SeqBlock, room_seq_block

logger = logging.getLogger(__name__)

BAD_REPLY = "You can only reply to a message of this room that is shown."


def message_body_clean(body: str, *, allow_empty: bool = False) -> str:
    """The body as it will be stored, or ChatError. Shared by every entry point (an
    image message may have an empty caption)."""
    if not body.strip() and not allow_empty:
        raise ChatError(ErrorCode.EMPTY_BODY, "A message cannot be empty.")
    # JSON can carry what no database stores: NUL (PostgreSQL text) and lone UTF-16
    # surrogates (not encodable as UTF-8). Refuse them as input, not as a server fault.
    if "\x00" in body or any("\ud800" <= char <= "\udfff" for char in body):
        raise ChatError(ErrorCode.BAD_BODY, "A message cannot contain NUL or unpaired surrogates.")
    limit = settings.CHAT_MAX_BODY_CHARS
    if len(body) > limit:
        raise ChatError(ErrorCode.BODY_TOO_LONG, f"A message can have at most {limit} characters.")
    return body


def message_post(
    *, room_id: int, author: User, body: str, client_id: str, reply_to: int | None = None
) -> MessageOut:
    """Save a message with the room's next seq and broadcast it after commit.

    Idempotent per (room, author, client_id): a repeat returns the original message
    and publishes nothing, so a client may resend whatever it is unsure about.
    `reply_to`: the id of a message of the same room it answers (else bad_reply).
    """
    body = message_body_clean(body)
    access_require_write(room_id=room_id, user=author)
    try:
        # Insert first: a repeat is rare, so the unique constraint detects it rather
        # than a lookup before every send (the failed attempt rolls back its seq).
        payload = _message_insert(
            room_id=room_id, author=author, body=body, client_id=client_id, reply_to=reply_to
        )
    except ChatError as error:
        # A resend of a reply whose original was deleted since: the saved one answers.
        existing = None
        if error.code == ErrorCode.BAD_REPLY:
            existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
        if existing is None:
            raise
        return existing
    except IntegrityError:
        # A resend, or two connections of one user racing with the same client_id.
        existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
        if existing is None:
            raise
        return existing
    return payload


@dataclass(frozen=True)
class _StoredImage:
    processed: images.ProcessedImage
    file: str  # storage names
    thumbnail: str


@dataclass(frozen=True)
class StoredFile:
    """Any other file, already in storage (chat/services/files.py)."""

    file: str  # the storage name, chosen by the server
    name: str  # the sanitized original name, for display and the download
    content_type: str
    size: int


@transaction.atomic
def _message_insert(
    *,
    room_id: int,
    author: User | None,
    body: str,
    client_id: str,
    kind: str = Message.Kind.USER,
    image: _StoredImage | None = None,
    reply_to: int | None = None,
    stored_file: StoredFile | None = None,
) -> MessageOut:
    # Mentions first: @room may be refused, before the room's seq is taken.
    mentioned = mentions_find(room_id=room_id, author=author, body=body)
    answered = reply_target(room_id=room_id, reply_to=reply_to)
    html = rendering.render(body, mentions=mentioned.names, group_mention=mentioned.group)
    # The UPDATE takes the room row's write lock until commit, so concurrent senders (on
    # any process) get consecutive seqs and commit in seq order.
    block = room_seq_block(room_id)
    seq, slug = block.last, block.slug
    message = Message.objects.create(
        room_id=room_id,
        seq=seq,
        author=author,
        body=body,
        client_id=client_id,
        kind=kind,
        mentions=list(mentioned.names),
        group_mention=mentioned.group,
        html=html,
        reply_to=answered,
    )
    mention_rows_add(message, mentioned)
    attachment = None
    if image is not None:
        original, thumbnail = image.processed.original, image.processed.thumbnail
        attachment = Attachment.objects.create(
            message=message,
            file=image.file,
            thumbnail=image.thumbnail,
            name=image.processed.name,
            content_type=original.content_type,
            size=len(original.data),
            width=original.width,
            height=original.height,
            thumbnail_width=thumbnail.width,
            thumbnail_height=thumbnail.height,
        )
    if stored_file is not None:
        attachment = Attachment.objects.create(
            message=message,
            kind=Attachment.Kind.FILE,
            file=stored_file.file,
            name=stored_file.name,
            content_type=stored_file.content_type,
            size=stored_file.size,
        )
    payload = message_out(
        message,
        room_slug=slug,
        author=author.get_username() if author is not None else None,
        attachment=attachment,
    )
    # robust: the message is saved whatever the channel layer does; a failed publish is
    # logged and the receivers' periodic sync delivers it from the database.
    events.publish_on_commit(lambda: events.publish_message(room_id, payload))
    if notify_needed(block, mentioned):
        events.notify_on_commit([{"message_id": message.pk, "users": None}])
    return payload


def notify_needed(block: SeqBlock, mentioned: Mentioned) -> bool:
    """Whether anyone may have to be notified of a new message: someone is mentioned, it
    is a direct conversation, or a member asked for every message of the room."""
    return bool(mentioned.names or mentioned.group or block.notify_all)


def reply_target(*, room_id: int, reply_to: int | None) -> Message | None:
    """The message a new one answers (with its author loaded), or ChatError(ErrorCode.BAD_REPLY)
    when it is not a message of this room or it was deleted."""
    if reply_to is None:
        return None
    return replies_check({reply_to: room_id}).get(reply_to) or _bad_reply()


def replies_check(wanted: dict[int, int]) -> dict[int, Message]:
    """Of the messages asked for (id -> the room the reply is in), those that may be
    answered: in that room and not deleted. One query however many."""
    if not wanted:
        return {}
    found = Message.objects.select_related("author").filter(
        pk__in=list(wanted), deleted_at__isnull=True
    )
    return {message.pk: message for message in found if wanted[message.pk] == message.room_id}


def _bad_reply() -> Message:
    raise ChatError(ErrorCode.BAD_REPLY, BAD_REPLY)


def _message_by_client_id(*, room_id: int, author: User, client_id: str) -> MessageOut | None:
    found = (
        Message.objects.filter(room_id=room_id, author=author, client_id=client_id)
        .select_related("room", "attachment", "reply_to__author")
        .first()
    )
    if found is None:
        return None
    attachment = None
    with contextlib.suppress(Attachment.DoesNotExist):
        attachment = found.attachment
    return message_out(
        found, room_slug=found.room.slug, author=author.get_username(), attachment=attachment
    )


def message_post_system(*, room_id: int, body: str, client_id: str = "") -> MessageOut:
    """Post a system message (kind "system", no author) into a room, from any sync code:
    a management command, a view, a task. Every connected client sees it live, on every
    process (published through the channel layer after commit). No access rules apply:
    the caller is the server itself. ChatError for an empty or too long body or a
    room that does not exist (`room_not_found`)."""
    body = message_body_clean(body)
    return _message_insert(
        room_id=room_id,
        author=None,
        body=body,
        client_id=client_id or uuid.uuid4().hex,
        kind=Message.Kind.SYSTEM,
    )


async def message_post_async(
    *, room_id: int, author: User, body: str, client_id: str
) -> MessageOut:
    """message_post for async code (an async view, task or consumer)."""
    result: MessageOut = await database_sync_to_async(message_post)(
        room_id=room_id, author=author, body=body, client_id=client_id
    )
    return result


async def message_post_system_async(*, room_id: int, body: str, client_id: str = "") -> MessageOut:
    """message_post_system for async code."""
    result: MessageOut = await database_sync_to_async(message_post_system)(
        room_id=room_id, body=body, client_id=client_id
    )
    return result


@transaction.atomic
def message_edit(*, message_id: int, user: User, body: str) -> MessageOut:
    """The author changes their message; the old text is kept for staff."""
    body = message_body_clean(body)
    message = _own_message(message_id=message_id, user=user)
    access_require_write(room_id=message.room_id, user=user)
    MessageEdit.objects.create(message=message, body=message.body)
    before = set(Mention.objects.filter(message=message).values_list("user_id", flat=True))
    was_room = message.group_mention == mentions.ROOM
    mentioned = mentions_find(room_id=message.room_id, author=user, body=body)
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
    )
    room_id, slug = message.room_id, message.room.slug
    frame = {"type": "message.updated", "room": slug, "message": payload}
    events.publish_on_commit(lambda: events.publish_room_frame(room_id, frame))
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
    message.deleted_at = timezone.now()
    message.deleted_by = user
    message.save(update_fields=["deleted_at", "deleted_by"])
    frame = {
        "type": "message.deleted",
        "id": message.pk,
        "seq": message.seq,
        "room": message.room.slug,
    }
    room_id, slug = message.room_id, message.room.slug
    events.publish_on_commit(lambda: events.publish_room_frame(room_id, frame))
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
    if around is not None:
        return selectors.message_around(room_id=room_id, seq=around, limit=limit, reader_id=user.pk)
    if after is not None:
        return selectors.message_list(room_id=room_id, after=after, limit=limit, reader_id=user.pk)
    return selectors.message_list(room_id=room_id, before=before, limit=limit, reader_id=user.pk)
