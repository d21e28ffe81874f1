"""Moderation: the audit log, bans and mutes, locks, deactivation. Every action is
audited; actions that take access away close or drop the affected sockets live."""

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat import events, selectors
from chat.models import (
    AuditLog,
    Room,
    Sanction,
)
from chat.ops import observability
from chat.protocol.codes import CloseCode


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: str,
    reason: str = "",
    target_user: User | None = None,
    ip: str | None = None,
    security: bool = False,
) -> None:
    """Write one audit log entry; `security`: a security event (accounts/identity/audit.py),
    logged under its own name rather than as "moderation"."""
    AuditLog.objects.create(
        actor=actor,
        action=action,
        target=target[:200],
        reason=reason[:500],
        target_user=target_user,
        ip=ip,
    )
    # Logged and counted once committed: a rolled-back action never happened.
    who = actor.get_username() if actor is not None else None
    transaction.on_commit(
        lambda: observability.moderation_recorded(
            actor=who, action=action, target=target[:200], ip=ip, security=security
        )
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
        username, user_id = sanction.user.get_username(), sanction.user_id
        room = sanction.room
        # Per-room sockets close (4403); all-rooms sockets drop just this room, or close
        # (4403) for a site-wide ban.
        events.publish_on_commit(
            events.kick(
                username=username, room_id=room.pk if room else None, code=CloseCode.FORBIDDEN
            )
        )
        if room is not None:
            events.publish_on_commit(
                events.membership(
                    user_id=user_id, room_id=room.pk, room=room.slug, action="left", reason="banned"
                )
            )


@transaction.atomic
def sanction_lift(*, sanction: Sanction, actor: User) -> None:
    sanction.lifted_at = timezone.now()
    sanction.save(update_fields=["lifted_at"])
    where = sanction.room.slug if sanction.room else "site"
    audit_record(actor=actor, action=f"user.un{sanction.kind}", target=f"{sanction.user} ({where})")
    room = sanction.room
    if sanction.kind == Sanction.Kind.BAN and room is not None:
        user_id = sanction.user_id
        # The room comes back to a joined user's sidebar (if no other ban still holds).
        if selectors.user_room(user_id=user_id, room_id=room.pk) is not None:
            events.publish_on_commit(
                events.membership(user_id=user_id, room_id=room.pk, room=room.slug, action="joined")
            )


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
    # A security event (accounts/identity/audit.py's name; chat does not import accounts).
    audit_record(
        actor=actor,
        action="user.deactivate",
        target=str(user),
        target_user=user,
        reason=reason,
        security=True,
    )
    username = user.get_username()
    events.publish_on_commit(events.kick(username=username, room_id=None, code=CloseCode.FORBIDDEN))


def user_reactivated(*, user: User, actor: User | None, reason: str = "") -> None:
    """Audit an account made active again (the caller saved it)."""
    audit_record(
        actor=actor,
        action="user.reactivate",
        target=str(user),
        target_user=user,
        reason=reason,
        security=True,
    )


def user_staff_changed(*, user: User, actor: User | None, reason: str = "") -> None:
    """Audit staff status granted or removed (the caller saved `user.is_staff`)."""
    audit_record(
        actor=actor,
        action="staff.grant" if user.is_staff else "staff.remove",
        target=str(user),
        target_user=user,
        reason=reason,
        security=True,
    )
