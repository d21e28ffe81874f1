"""Read state: a user's pointer per room (it only moves forward) and the unread and
mention counts every connection of theirs shows, kept exact as messages change."""

from django.contrib.auth.models import User
from django.db import transaction

from chat import events, selectors
from chat.errors import ChatError
from chat.models import Membership
from chat.protocol.codes import ErrorCode
from chat.selectors import ReadState


def counts_publish(*, room_id: int, slug: str, states: dict[int, ReadState]) -> None:
    """After commit, send these users' new read state to all their connections. The
    states must be read inside the changing transaction, after the change."""
    if states:
        events.publish_on_commit(events.counts(room_id, slug, states))


@transaction.atomic
def room_read(*, user: User, slug: str, seq: int) -> tuple[str, ReadState, bool]:
    """Move the user's pointer in the room up to `seq` (never back, never past the
    room's last seq). Returns (slug, the read state, whether it changed); a change is
    published to every connection of the user, this one included."""
    room = selectors.room_get(slug=slug)
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    target = min(seq, room["last_seq"])
    changed = (
        Membership.objects.filter(room_id=room["id"], user=user, last_read_seq__lt=target).update(
            last_read_seq=target
        )
        > 0
    )
    states = selectors.read_states(room_id=room["id"], user_ids=[user.pk])
    if user.pk not in states:
        raise ChatError(ErrorCode.NOT_JOINED, "You have not joined this room.")
    if changed:
        counts_publish(room_id=room["id"], slug=room["slug"], states=states)
    return room["slug"], states[user.pk], changed
