"""Rooms and who is in them: creation, direct conversations, members, joining and
leaving. Changes reach the users' open connections through events, after commit."""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from chat import events
from chat.errors import ChatError
from chat.models import (
    Membership,
    Room,
)
from chat.services.access import CLOSE_FORBIDDEN
from chat.services.moderation import audit_record


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
