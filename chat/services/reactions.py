"""Reactions: a member who may write adds or removes an emoji on a message; every
connection of the room is told after commit, in line with the room's messages."""

from collections.abc import Collection

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from chat import events, selectors
from chat.content import emoji
from chat.errors import ChatError
from chat.events.frames import ReactionFrame
from chat.models import Message, Reaction, Room
from chat.protocol.codes import ErrorCode
from chat.services.access import access_require_write

_NO_MESSAGE = ChatError(ErrorCode.NOT_FOUND, "No such message.")


@transaction.atomic
def reaction_set(
    *,
    message_id: int,
    user: User,
    emoji_text: str,
    added: bool,
    room_ids: Collection[int] | None = None,
) -> tuple[ReactionFrame, bool]:
    """Add (`added`) or remove the user's `emoji_text` on a message. Returns the
    `reaction` frame and whether anything changed; only a change is published (to every
    connection of the room, the sender's included). Idempotent: adding twice or removing
    what is not there changes nothing. ChatError: bad_emoji, not_found (no such message,
    deleted or hidden, or a room the user may not read), too_many_reactions, and the
    write rules (muted, room_locked, banned). `room_ids`: the rooms the caller carries
    (a socket), so a message elsewhere, whose broadcast it would not get, is not_found."""
    clean = emoji.emoji_clean(emoji_text)
    if clean is None:
        raise ChatError(ErrorCode.BAD_EMOJI, "Reactions take one of the server's emoji.")
    # The message row locked: concurrent reactions to one message are counted (and held
    # to the cap) one at a time. Not the room's row: sends there must not wait on this.
    message = (
        Message.objects.select_for_update()
        .filter(pk=message_id, deleted_at__isnull=True)
        .only("id", "room_id", "seq")
        .first()
    )
    if message is None or (room_ids is not None and message.room_id not in room_ids):
        raise _NO_MESSAGE
    access = selectors.access_for(room_id=message.room_id, user_id=user.pk)
    if not access["read"] and access["code"] != ErrorCode.BANNED:
        raise _NO_MESSAGE  # a room they may not read: not told it exists
    access_require_write(room_id=message.room_id, user=user)
    mine = Reaction.objects.filter(message=message, user=user, emoji=clean)
    if added:
        changed = not mine.exists()
        if changed:
            distinct = Reaction.objects.filter(message=message).values("emoji").distinct().count()
            used = Reaction.objects.filter(message=message, emoji=clean).exists()
            if not used and distinct >= settings.CHAT_REACTIONS_MAX_PER_MESSAGE:
                raise ChatError(
                    ErrorCode.TOO_MANY_REACTIONS,
                    f"A message can have at most {settings.CHAT_REACTIONS_MAX_PER_MESSAGE}"
                    " different reactions.",
                )
            try:
                with transaction.atomic():
                    Reaction.objects.create(message=message, user=user, emoji=clean)
            except IntegrityError:  # the same reaction from another tab, just now
                changed = False
    else:
        changed = mine.delete()[0] > 0
    slug = Room.objects.values_list("slug", flat=True).get(pk=message.room_id)
    frame: ReactionFrame = {
        "type": "reaction",
        "room": slug,
        "message_id": message.pk,
        "emoji": clean,
        "count": selectors.reaction_count(message_id=message.pk, emoji=clean),
        "username": user.get_username(),
        "added": added,
    }
    if changed:
        room_id, seq = message.room_id, message.seq
        events.publish_on_commit(events.room_frame(room_id, frame, after_seq=seq))
    return frame, changed
