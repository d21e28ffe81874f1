"""Rooms and who is in them: creation, direct conversations, members, joining and
leaving. Changes reach the users' open connections through events, after commit."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Subquery

from chat import events, selectors
from chat.errors import ChatError
from chat.models import Membership, Room
from chat.protocol.codes import CloseCode, ErrorCode
from chat.selectors import RoomState
from chat.services.moderation import audit_record


def _membership_ensure(room: Room, user: User) -> bool:
    """Join the user to the room if they are not in it; True when newly joined. The
    pointer starts at the room's last seq (read in the same statement): nothing is
    unread on join. Every all-rooms connection of the user gets room.joined."""
    _, created = Membership.objects.get_or_create(
        room=room,
        user=user,
        defaults={
            "last_read_seq": Subquery(Room.objects.filter(pk=room.pk).values("last_seq")[:1])
        },
    )
    if created:
        user_id, room_id, slug = user.pk, room.pk, room.slug
        events.publish_on_commit(
            events.membership(user_id=user_id, room_id=room_id, room=slug, action="joined")
        )
    return created


def membership_ensure(*, room: Room, user: User) -> bool:
    """Join `user` to `room` whoever may manage it: the server's own joins (an
    integration's bot joins the rooms staff gave it). True when newly joined."""
    with transaction.atomic():
        return _membership_ensure(room, user)


def _left_publish(user: User, room: Room, reason: str) -> None:
    user_id, room_id, slug = user.pk, room.pk, room.slug
    events.publish_on_commit(
        events.membership(user_id=user_id, room_id=room_id, room=slug, action="left", reason=reason)
    )


@transaction.atomic
def room_create(
    *, slug: str, name: str, topic: str, creator: User, is_private: bool = False
) -> Room:
    """A new room; its creator joins it (and owns it)."""
    try:
        with transaction.atomic():  # the unique slug decides, also between racing creators
            room = Room.objects.create(
                slug=slug, name=name, topic=topic, created_by=creator, is_private=is_private
            )
    except IntegrityError:
        raise ChatError(ErrorCode.SLUG_TAKEN, "A room with this slug exists already.") from None
    _membership_ensure(room, creator)
    return room


@transaction.atomic
def dm_open(*, user: User, other: User) -> Room:
    """The private two-person room of these users, created on first use; both are
    members (again) whenever it is opened."""
    low, high = sorted([user, other], key=lambda u: u.pk)
    slug = f"dm-{low.pk}-{high.pk}"
    room, _ = Room.objects.get_or_create(
        slug=slug,
        defaults={
            "name": f"{low.get_username()} & {high.get_username()}",
            "is_private": True,
            "is_direct": True,
            "created_by": user,
        },
    )
    for person in {low.pk: low, high.pk: high}.values():
        _membership_ensure(room, person)
    return room


@transaction.atomic
def room_join(*, user: User, slug: str) -> tuple[RoomState, bool]:
    """Join a public room, or confirm a private one the user is a member of. Returns
    its state and whether the user newly joined (then every connection of theirs hears
    of it; otherwise only the caller answers)."""
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    access = selectors.access_for(room_id=room.pk, user_id=user.pk)
    if not access["read"]:
        raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
    created = _membership_ensure(room, user)  # a private room's reader is a member already
    state = selectors.user_room(user_id=user.pk, room_id=room.pk)
    if state is None:  # only a ban hides a joined room, and access said there is none
        raise ChatError(ErrorCode.FORBIDDEN, "You have no access to this room.")
    return state, created


@transaction.atomic
def room_leave(*, user: User, slug: str) -> None:
    """Leave a room: it leaves the sidebar of every connection of the user. A private
    room's owner (or staff) must add the user again; direct conversations stay."""
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    if room.is_direct:
        raise ChatError(ErrorCode.CANNOT_LEAVE, "A direct conversation cannot be left.")
    deleted, _ = Membership.objects.filter(room=room, user=user).delete()
    if not deleted:
        raise ChatError(ErrorCode.NOT_JOINED, "You have not joined this room.")
    _left_publish(user, room, "left")


def user_join_defaults(*, user: User) -> None:
    """Join a new account to every default room (called for every account created,
    by whatever creates it)."""
    with transaction.atomic():
        for room in Room.objects.filter(is_default=True, is_private=False):
            _membership_ensure(room, user)


def _can_manage(room: Room, actor: User) -> bool:
    return actor.is_staff or (room.created_by_id == actor.pk and not room.is_direct)


@transaction.atomic
def membership_add(*, room: Room, user: User, actor: User) -> None:
    if not _can_manage(room, actor):
        raise ChatError(ErrorCode.FORBIDDEN, "Only the room's owner or staff manage its members.")
    _membership_ensure(room, user)
    audit_record(actor=actor, action="member.add", target=f"{user} in {room.slug}")


@transaction.atomic
def membership_remove(*, room: Room, user: User, actor: User) -> None:
    if not _can_manage(room, actor):
        raise ChatError(ErrorCode.FORBIDDEN, "Only the room's owner or staff manage its members.")
    deleted, _ = Membership.objects.filter(room=room, user=user).delete()
    audit_record(actor=actor, action="member.remove", target=f"{user} in {room.slug}")
    if deleted:
        _left_publish(user, room, "removed")
    if room.is_private:
        # Sockets of the per-room endpoint close; all-rooms sockets drop the room only.
        username, room_id = user.get_username(), room.pk
        events.publish_on_commit(
            events.kick(username=username, room_id=room_id, code=CloseCode.FORBIDDEN)
        )
