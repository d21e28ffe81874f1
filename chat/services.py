"""Write-side rules: validate, persist in one transaction, publish after commit.

The only layer that publishes, and only through transaction.on_commit, so nobody ever
sees a message that was rolled back. Callable from any sync Django code; async code
wraps it in database_sync_to_async (or uses the *_async forms below).
"""

import contextlib
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chat import events, images, observability, selectors
from chat.errors import ChatError
from chat.models import (
    ApiToken,
    Attachment,
    AuditLog,
    Membership,
    Message,
    MessageEdit,
    Room,
    Sanction,
)
from chat.selectors import MessageOut, message_out

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403  # the WebSocket close code for lost access (docs/protocol.md)


def message_body_clean(body: str, *, allow_empty: bool = False) -> str:
    """The body as it will be stored, or ChatError. Shared by every entry point (an
    image message may have an empty caption)."""
    if not body.strip() and not allow_empty:
        raise ChatError("empty_body", "A message cannot be empty.")
    # JSON can carry what no database stores: NUL (PostgreSQL text) and lone UTF-16
    # surrogates (not encodable as UTF-8). Refuse them as input, not as a server fault.
    if "\x00" in body or any("\ud800" <= char <= "\udfff" for char in body):
        raise ChatError("bad_body", "A message cannot contain NUL or unpaired surrogates.")
    limit = settings.CHAT_MAX_BODY_CHARS
    if len(body) > limit:
        raise ChatError("body_too_long", f"A message can have at most {limit} characters.")
    return body


def message_post(*, room_id: int, author: User, body: str, client_id: str) -> MessageOut:
    """Save a message with the room's next seq and broadcast it after commit.

    Idempotent per (room, author, client_id): a repeat returns the original message
    and publishes nothing, so a client may resend whatever it is unsure about.
    """
    body = message_body_clean(body)
    access_require_write(room_id=room_id, user=author)
    try:
        # Insert first: a repeat is rare, so the unique constraint detects it rather
        # than a lookup before every send (the failed attempt rolls back its seq).
        payload = _message_insert(room_id=room_id, author=author, body=body, client_id=client_id)
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


@transaction.atomic
def _message_insert(
    *,
    room_id: int,
    author: User | None,
    body: str,
    client_id: str,
    kind: str = Message.Kind.USER,
    image: _StoredImage | None = None,
) -> MessageOut:
    # The UPDATE takes the room row's write lock until commit, so concurrent senders (on
    # any process) get consecutive seqs and commit in seq order.
    seq, slug = _room_seq_next(room_id)
    message = Message.objects.create(
        room_id=room_id, seq=seq, author=author, body=body, client_id=client_id, kind=kind
    )
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
    payload = message_out(
        message,
        room_slug=slug,
        author=author.get_username() if author is not None else None,
        attachment=attachment,
    )
    # robust: the message is saved whatever the channel layer does; a failed publish is
    # logged and the receivers' periodic sync delivers it from the database.
    transaction.on_commit(lambda: events.publish_message(room_id, payload), robust=True)
    return payload


def _room_seq_next(room_id: int) -> tuple[int, str]:
    """Take the room's next seq (and its slug) in one round trip. Must run inside the
    saving transaction: the row stays write-locked until commit."""
    table = connection.ops.quote_name(Room._meta.db_table)
    # UPDATE ... RETURNING (PostgreSQL, SQLite >= 3.35); the ORM's update() cannot return.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s "  # noqa: S608 - table name from the model
            "RETURNING last_seq, slug",
            [room_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise ChatError("room_not_found", "This room does not exist any more.")
    return int(row[0]), str(row[1])


def _message_by_client_id(*, room_id: int, author: User, client_id: str) -> MessageOut | None:
    found = (
        Message.objects.filter(room_id=room_id, author=author, client_id=client_id)
        .select_related("room", "attachment")
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


def message_post_image(
    *, room_id: int, author: User, upload: IO[bytes], name: str, body: str, client_id: str
) -> MessageOut:
    """Post an image (with an optional caption) as a message: the same rules as
    message_post (access, idempotency by client_id), plus images.image_process's checks.
    The files are stored before the transaction and removed again if it fails."""
    body = message_body_clean(body, allow_empty=True)
    access_require_write(room_id=room_id, user=author)
    existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
    if existing is not None:
        return existing  # a resend: not decoded or stored again
    processed = images.image_process(upload, name=name)
    base = f"attachments/{room_id}/{uuid.uuid4().hex}"
    stored = _StoredImage(
        processed=processed,
        file=default_storage.save(
            f"{base}.{processed.original.extension}", ContentFile(processed.original.data)
        ),
        thumbnail=default_storage.save(
            f"{base}-thumb.{processed.thumbnail.extension}", ContentFile(processed.thumbnail.data)
        ),
    )
    try:
        return _message_insert(
            room_id=room_id, author=author, body=body, client_id=client_id, image=stored
        )
    except BaseException as failure:
        for stored_name in (stored.file, stored.thumbnail):
            try:
                default_storage.delete(stored_name)
            except Exception:
                logger.exception("could not remove orphan upload %s", stored_name)
        if isinstance(failure, IntegrityError):  # the same client_id raced in
            existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
            if existing is not None:
                return existing
        raise


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


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown to the user once; only its digest is stored


TOKEN_PREFIX = "chat_"  # noqa: S105 - a marker for secret scanners, not a secret


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: User, name: str) -> NewToken:
    """A personal API token for `user`. The secret is random (256 bits), so a plain
    SHA-256 suffices to store it (no salt or slow hash needed, unlike passwords)."""
    name = name.strip()[:80] or "token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        digest=token_digest(secret),
    )
    return NewToken(token=token, secret=secret)


def token_revoke(*, token_id: int, user: User) -> None:
    """Revoke one of the user's tokens (staff revoke any in the admin)."""
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    if not deleted:
        raise ChatError("not_found", "No such token of yours.")


def token_used(*, token: ApiToken) -> None:
    """Record the token's use, at most once a minute (not a write per request)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def access_require_write(*, room_id: int, user: User) -> None:
    access = selectors.access_for(room_id=room_id, user_id=user.pk)
    if not access["write"]:
        raise ChatError(access["code"], access["detail"])


def access_require_read(*, room_id: int, user: User) -> None:
    access = selectors.access_for(room_id=room_id, user_id=user.pk)
    if not access["read"]:
        raise ChatError(access["code"], access["detail"])


@transaction.atomic
def room_create(
    *, slug: str, name: str, topic: str, creator: User, is_private: bool = False
) -> Room:
    try:
        with transaction.atomic():  # the unique slug decides, also between racing creators
            room = Room.objects.create(
                slug=slug, name=name, topic=topic, created_by=creator, is_private=is_private
            )
    except IntegrityError:
        raise ChatError("slug_taken", "A room with this slug exists already.") from None
    if is_private:
        Membership.objects.create(room=room, user=creator)
    return room


@transaction.atomic
def dm_open(*, user: User, other: User) -> Room:
    """The private two-person room of these users, created on first use."""
    low, high = sorted([user, other], key=lambda u: u.pk)
    slug = f"dm-{low.pk}-{high.pk}"
    room, created = Room.objects.get_or_create(
        slug=slug,
        defaults={
            "name": f"{low.get_username()} & {high.get_username()}",
            "is_private": True,
            "is_direct": True,
            "created_by": user,
        },
    )
    if created:
        Membership.objects.bulk_create(
            [Membership(room=room, user=low), Membership(room=room, user=high)]
        )
    return room


def _can_manage(room: Room, actor: User) -> bool:
    return actor.is_staff or (room.created_by_id == actor.pk and not room.is_direct)


@transaction.atomic
def membership_add(*, room: Room, user: User, actor: User) -> None:
    if not _can_manage(room, actor):
        raise ChatError("forbidden", "Only the room's owner or staff manage its members.")
    Membership.objects.get_or_create(room=room, user=user)
    audit_record(actor=actor, action="member.add", target=f"{user} in {room.slug}")


@transaction.atomic
def membership_remove(*, room: Room, user: User, actor: User) -> None:
    if not _can_manage(room, actor):
        raise ChatError("forbidden", "Only the room's owner or staff manage its members.")
    Membership.objects.filter(room=room, user=user).delete()
    audit_record(actor=actor, action="member.remove", target=f"{user} in {room.slug}")
    if room.is_private:
        username, room_id = user.get_username(), room.pk
        transaction.on_commit(
            lambda: events.publish_kick(username=username, room_id=room_id, code=CLOSE_FORBIDDEN),
            robust=True,
        )


def audit_record(*, actor: User | None, action: str, target: str, reason: str = "") -> None:
    AuditLog.objects.create(actor=actor, action=action, target=target[:200], reason=reason[:500])
    # Logged and counted once committed: a rolled-back action never happened.
    who = actor.get_username() if actor is not None else None
    transaction.on_commit(
        lambda: observability.moderation_recorded(actor=who, action=action, target=target[:200])
    )


@transaction.atomic
def message_edit(*, message_id: int, user: User, body: str) -> MessageOut:
    """The author changes their message; the old text is kept for staff."""
    body = message_body_clean(body)
    message = _own_message(message_id=message_id, user=user)
    access_require_write(room_id=message.room_id, user=user)
    MessageEdit.objects.create(message=message, body=message.body)
    message.body = body
    message.edited_at = timezone.now()
    message.save(update_fields=["body", "edited_at"])
    attachment = None
    with contextlib.suppress(Attachment.DoesNotExist):
        attachment = message.attachment  # an image's caption was edited: the image stays
    payload = message_out(
        message, room_slug=message.room.slug, author=user.get_username(), attachment=attachment
    )
    room_id = message.room_id
    transaction.on_commit(
        lambda: events.publish_room_frame(room_id, {"type": "message.updated", "message": payload}),
        robust=True,
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
        raise ChatError("not_found", "No such message of yours.")
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
    room_id = message.room_id
    transaction.on_commit(lambda: events.publish_room_frame(room_id, frame), robust=True)


def _own_message(*, message_id: int, user: User) -> Message:
    message = (
        Message.objects.select_related("room")
        .filter(pk=message_id, author=user, deleted_at__isnull=True)
        .first()
    )
    if message is None:
        raise ChatError("not_found", "No such message of yours.")
    return message


@transaction.atomic
def sanction_create(
    *,
    kind: str,
    user: User,
    room: Room | None,
    reason: str,
    actor: User,
    expires_at: datetime | None = None,
) -> Sanction:
    """Ban (no access) or mute (read-only) a user in a room or site-wide; a ban closes
    the user's open connections there, on every process."""
    sanction = Sanction.objects.create(
        kind=kind, user=user, room=room, reason=reason, expires_at=expires_at, created_by=actor
    )
    sanction_applied(sanction=sanction, actor=actor)
    return sanction


def sanction_applied(*, sanction: Sanction, actor: User | None) -> None:
    """Audit and enforce a sanction saved elsewhere (the admin's own form)."""
    where = sanction.room.slug if sanction.room else "site"
    audit_record(
        actor=actor,
        action=f"user.{sanction.kind}",
        target=f"{sanction.user} ({where})",
        reason=sanction.reason,
    )
    if sanction.kind == Sanction.Kind.BAN:
        username = sanction.user.get_username()
        room_id = sanction.room_id
        transaction.on_commit(
            lambda: events.publish_kick(username=username, room_id=room_id, code=CLOSE_FORBIDDEN),
            robust=True,
        )


@transaction.atomic
def sanction_lift(*, sanction: Sanction, actor: User) -> None:
    sanction.lifted_at = timezone.now()
    sanction.save(update_fields=["lifted_at"])
    where = sanction.room.slug if sanction.room else "site"
    audit_record(actor=actor, action=f"user.un{sanction.kind}", target=f"{sanction.user} ({where})")


@transaction.atomic
def room_lock(*, room: Room, locked: bool, actor: User, reason: str = "") -> None:
    room.is_locked = locked
    room.save(update_fields=["is_locked"])
    audit_record(
        actor=actor,
        action="room.lock" if locked else "room.unlock",
        target=room.slug,
        reason=reason,
    )


@transaction.atomic
def user_deactivate(*, user: User, actor: User, reason: str = "") -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])
    user_deactivated(user=user, actor=actor, reason=reason)


def user_deactivated(*, user: User, actor: User | None, reason: str = "") -> None:
    audit_record(actor=actor, action="user.deactivate", target=str(user), reason=reason)
    username = user.get_username()
    transaction.on_commit(
        lambda: events.publish_kick(username=username, room_id=None, code=CLOSE_FORBIDDEN),
        robust=True,
    )


def history_page(*, room_id: int, user: User, before: int, limit: int) -> list[MessageOut]:
    """Scrollback, authorized when asked (access may have been lost since connecting)."""
    access_require_read(room_id=room_id, user=user)
    return selectors.message_list(room_id=room_id, before=before, limit=limit)
