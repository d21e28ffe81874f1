"""Moderation: the audit log, bans and mutes, locks, deactivation. Every action is
audited; actions that take access away close or drop the affected sockets live."""

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat import events, observability
from chat.models import (
    AuditLog,
    Room,
    Sanction,
)
from chat.services.access import CLOSE_FORBIDDEN


def audit_record(*, actor: User | None, action: str, target: str, reason: str = "") -> None:
    AuditLog.objects.create(actor=actor, action=action, target=target[:200], reason=reason[:500])
    # Logged and counted once committed: a rolled-back action never happened.
    who = actor.get_username() if actor is not None else None
    transaction.on_commit(
        lambda: observability.moderation_recorded(actor=who, action=action, target=target[:200])
    )


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
