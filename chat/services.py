"""Write-side rules: validate, persist in one transaction, publish after commit.

The only layer that publishes, and only through transaction.on_commit, so nobody ever
sees a message that was rolled back. Callable from any sync Django code; async code
wraps it in database_sync_to_async.
"""

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from chat import events, selectors
from chat.errors import ChatError
from chat.models import AuditLog, Membership, Message, MessageEdit, Room, Sanction
from chat.selectors import MessageOut, message_out

CLOSE_FORBIDDEN = 4403  # the WebSocket close code for lost access (docs/protocol.md)


def message_body_clean(body: str) -> str:
    """The body as it will be stored, or ChatError. Shared by every entry point."""
    if not body.strip():
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
    existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
    if existing is not None:
        return existing
    try:
        payload = _message_insert(room_id=room_id, author=author, body=body, client_id=client_id)
    except IntegrityError:
        # Two connections of one user raced with the same client_id: the other won.
        existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
        if existing is None:
            raise
        return existing
    return payload


@transaction.atomic
def _message_insert(*, room_id: int, author: User, body: str, client_id: str) -> MessageOut:
    # The UPDATE takes the room row's write lock until commit, so concurrent senders (on
    # any process) get consecutive seqs and commit in seq order.
    updated = Room.objects.filter(pk=room_id).update(last_seq=F("last_seq") + 1)
    if not updated:
        raise ChatError("room_not_found", "This room does not exist any more.")
    room = Room.objects.only("slug", "last_seq").get(pk=room_id)
    message = Message.objects.create(
        room_id=room_id, seq=room.last_seq, author=author, body=body, client_id=client_id
    )
    payload = message_out(message, room_slug=room.slug, author=author.get_username())
    # robust: the message is saved whatever the channel layer does; a failed publish is
    # logged and the receivers' periodic sync delivers it from the database.
    transaction.on_commit(lambda: events.publish_message(room_id, payload), robust=True)
    return payload


def _message_by_client_id(*, room_id: int, author: User, client_id: str) -> MessageOut | None:
    found = (
        Message.objects.filter(room_id=room_id, author=author, client_id=client_id)
        .select_related("room")
        .first()
    )
    if found is None:
        return None
    return message_out(found, room_slug=found.room.slug, author=author.get_username())


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
    room = Room.objects.create(
        slug=slug, name=name, topic=topic, created_by=creator, is_private=is_private
    )
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
    payload = message_out(message, room_slug=message.room.slug, author=user.get_username())
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
