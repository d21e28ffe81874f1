"""Write-side rules: validate, persist in one transaction, publish after commit.

The only layer that publishes, and only through transaction.on_commit, so nobody ever
sees a message that was rolled back. Callable from any sync Django code; async code
wraps it in database_sync_to_async.
"""

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F

from chat import events
from chat.errors import ChatError
from chat.models import Message, Room
from chat.selectors import MessageOut, message_out


def message_body_clean(body: str) -> str:
    """The body as it will be stored, or ChatError. Shared by every entry point."""
    if not body.strip():
        raise ChatError("empty_body", "A message cannot be empty.")
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


def room_create(*, slug: str, name: str, topic: str, creator: User) -> Room:
    return Room.objects.create(slug=slug, name=name, topic=topic, created_by=creator)
