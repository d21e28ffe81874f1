"""Write-side rules for accounts: invitations (made, used, revoked, audited), sign-up,
profiles, email addresses, and ending sessions. Publishes only after commit
(chat.events.publish_on_commit), like chat/services/."""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import selectors
from accounts.identity import audit
from accounts.models import Invitation, InvitationUse, SessionRecord
from chat import events
from chat import services as chat_services
from chat.errors import ChatError
from chat.models import Room
from chat.protocol.codes import CloseCode, ErrorCode

logger = logging.getLogger(__name__)

INVITATION_PREFIX = "inv_"  # a marker for secret scanners and people reading logs
MAX_INVITATION_USES = 1000
MAX_INVITATION_DAYS = 90
MAX_NOTE_CHARS = 200


# --- invitations ----------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    secret: str  # in the link, shown once; only its digest is stored


def invitation_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invitation_secret() -> tuple[str, str, str]:
    """A fresh (secret, digest, prefix): 256 random bits, so a plain SHA-256 is enough
    to store it, as for API tokens."""
    secret = INVITATION_PREFIX + secrets.token_urlsafe(32)
    return secret, invitation_digest(secret), secret[: len(INVITATION_PREFIX) + 6]


def invitation_may_create(*, user: User | None, rooms: list[Room]) -> bool:
    """Staff (and scripts: user None) invite anyone into any room; with
    CHAT_INVITE_ROOM_OWNERS, a room's owner invites into the rooms they own."""
    if user is None or user.is_staff:
        return True
    if not settings.CHAT_INVITE_ROOM_OWNERS or not user.is_active:
        return False
    owned = Room.objects.filter(created_by=user, is_direct=False)
    return bool(rooms) and all(owned.filter(pk=room.pk).exists() for room in rooms)


@transaction.atomic
def invitation_create(
    *,
    creator: User | None,
    days: float = 7,
    max_uses: int = 1,
    note: str = "",
    rooms: list[Room] | None = None,
) -> NewInvitation:
    """An invitation link usable `max_uses` times for `days` days, joining `rooms` on
    sign-up. Audited (chat AuditLog)."""
    rooms = list(rooms or [])
    if not invitation_may_create(user=creator, rooms=rooms):
        raise ChatError(
            ErrorCode.FORBIDDEN,
            "Only staff, or room owners for their own rooms, create invitations.",
        )
    if not 1 <= max_uses <= MAX_INVITATION_USES:
        raise ChatError(
            ErrorCode.INVALID, f"An invitation is used 1 to {MAX_INVITATION_USES} times."
        )
    if not 0 < days <= MAX_INVITATION_DAYS:
        raise ChatError(
            ErrorCode.INVALID, f"An invitation lasts at most {MAX_INVITATION_DAYS} days."
        )
    if any(room.is_direct for room in rooms):
        raise ChatError(ErrorCode.INVALID, "A direct conversation cannot be joined by invitation.")
    secret, digest, prefix = invitation_secret()
    invitation = Invitation.objects.create(
        digest=digest,
        prefix=prefix,
        note=note.strip()[:MAX_NOTE_CHARS],
        created_by=creator,
        expires_at=timezone.now() + timedelta(days=days),
        max_uses=max_uses,
    )
    invitation.rooms.set(rooms)
    audit.record(
        audit.SecurityEvent.INVITATION_CREATE,
        actor=creator,
        target=f"{prefix}… x{max_uses}, {days:g} d, rooms: "
        + (", ".join(room.slug for room in rooms) or "-"),
    )
    return NewInvitation(invitation=invitation, secret=secret)


def invitation_created_in_admin(*, invitation: Invitation, actor: User) -> str:
    """Give an invitation saved by the admin's add form its secret; the secret is
    returned to show once. The admin's form has set everything else."""
    secret, invitation.digest, invitation.prefix = invitation_secret()
    invitation.created_by = actor
    audit.record(
        audit.SecurityEvent.INVITATION_CREATE, actor=actor, target=f"{invitation.prefix}… (admin)"
    )
    return secret


@transaction.atomic
def invitation_revoke(*, invitation_id: int, actor: User) -> None:
    """Staff revoke any invitation; others only their own. Audited."""
    found = Invitation.objects.select_for_update().filter(pk=invitation_id).first()
    if found is None or not (actor.is_staff or found.created_by_id == actor.pk):
        raise ChatError(ErrorCode.NOT_FOUND, "No such invitation of yours.")
    if found.revoked_at is None:
        found.revoked_at = timezone.now()
        found.save(update_fields=["revoked_at"])
        chat_services.audit_record(
            actor=actor, action="invitation.revoke", target=f"{found.prefix}…"
        )


class InvitationInvalid(ChatError):
    """A token that cannot be used: `state` says why (unknown, expired, used, revoked)."""

    def __init__(self, state: selectors.InvitationState) -> None:
        self.state = state
        super().__init__(INVITATION_CODES[state], INVITATION_PROBLEMS.get(state, "Not valid."))


INVITATION_CODES: dict[str, ErrorCode] = {
    "valid": ErrorCode.INVITATION_UNKNOWN,  # never raised for a valid one
    "unknown": ErrorCode.INVITATION_UNKNOWN,
    "expired": ErrorCode.INVITATION_EXPIRED,
    "used": ErrorCode.INVITATION_USED,
    "revoked": ErrorCode.INVITATION_REVOKED,
}

INVITATION_PROBLEMS: dict[str, str] = {
    "unknown": "This invitation link is not valid. Check that it was copied whole.",
    "expired": "This invitation link has expired.",
    "used": "This invitation link has been used as often as it allows.",
    "revoked": "This invitation link was withdrawn.",
}


def invitation_check(secret: str) -> Invitation:
    """The usable invitation behind this secret, or InvitationInvalid."""
    if not secret.startswith(INVITATION_PREFIX) or len(secret) > 100:
        raise InvitationInvalid("unknown")
    found = selectors.invitation_by_digest(digest=invitation_digest(secret))
    state = selectors.invitation_state(found)
    if found is None or state != "valid":
        raise InvitationInvalid(state)
    return found


# --- sign-up --------------------------------------------------------------------------


def signup_policy_allows(*, invitation: bool, email_verified: bool) -> bool:
    mode = settings.CHAT_SIGNUP
    if mode == "open":
        return True
    if mode == "invite":
        return invitation or email_verified
    return False


def email_domain_allowed(email: str) -> bool:
    domain = email.rsplit("@", 1)[-1].lower() if "@" in email else ""
    return bool(domain) and domain in settings.CHAT_SIGNUP_EMAIL_DOMAINS


@transaction.atomic
def user_signup(
    *,
    username: str,
    password: str | None,  # None: no usable password (an SSO sign-up)
    email: str = "",
    invitation_secret: str = "",
    verified_email: str = "",
    ip: str | None = None,
) -> User:
    """Create an account under the sign-up policy (CHAT_SIGNUP): with a usable
    invitation (counted, audited, its rooms joined), with an address proven to be in
    CHAT_SIGNUP_EMAIL_DOMAINS, or freely when sign-up is open. The form has validated
    the username and password. Default rooms are joined by chat/signals.py."""
    invitation: Invitation | None = None
    if invitation_secret:
        checked = invitation_check(invitation_secret)
        # Locked until commit: two people using the last use at once cannot both get in.
        invitation = Invitation.objects.select_for_update().get(pk=checked.pk)
        state = selectors.invitation_state(invitation)
        if state != "valid":
            raise InvitationInvalid(state)
    email_verified = bool(verified_email) and email_domain_allowed(verified_email)
    if not signup_policy_allows(invitation=invitation is not None, email_verified=email_verified):
        raise ChatError(ErrorCode.SIGNUP_CLOSED, "Sign-up needs an invitation here.")
    user = User.objects.create_user(
        username=username, password=password, email=verified_email or email
    )
    if invitation is not None:
        updated = Invitation.objects.filter(pk=invitation.pk, uses__lt=F("max_uses")).update(
            uses=F("uses") + 1
        )
        if not updated:
            raise InvitationInvalid("used")
        InvitationUse.objects.create(
            invitation=invitation, user=user, username=user.get_username(), ip=ip
        )
        # Here, once, whichever page signed up through it (the password form today).
        audit.record(
            audit.SecurityEvent.INVITATION_USE,
            actor=user,
            target=user,
            reason=f"{invitation.prefix}…",
        )
        _invitation_rooms_join(invitation, user)
    return user


def _invitation_rooms_join(invitation: Invitation, user: User) -> None:
    for room in invitation.rooms.all():
        if not room.is_private:
            chat_services.room_join(user=user, slug=room.slug)
            continue
        actor = invitation.created_by
        if actor is not None and actor.is_active:
            chat_services.membership_add(room=room, user=user, actor=actor)
        else:
            logger.warning(
                "invitation %s: its maker can no longer add members to %s",
                invitation.pk,
                room.slug,
            )


# --- sessions -------------------------------------------------------------------------


def sessions_ended(session_keys: list[str], code: int = CloseCode.UNAUTHENTICATED) -> None:
    """The hook for live sockets: these sessions ended (logged out, password changed,
    logged out elsewhere), so every socket opened with one of them closes with `code`
    on every process, once the current transaction commits."""
    keys = sorted(set(session_keys))
    if keys:
        events.publish_on_commit(events.sessions_end(session_keys=keys, code=code))


def session_started(
    *, user: User, session_key: str, user_agent: str = "", ip: str | None = None
) -> None:
    """Remember which user holds this session (on every log-in)."""
    SessionRecord.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": user,
            "user_agent": user_agent[:200],
            "ip": ip,
            "last_seen_at": timezone.now(),
        },
    )


def session_describe(
    *, session_key: str, method: str, provider: str = "", second_factor: bool = False
) -> None:
    """How a session signed in (accounts/identity/login_flow.py, after the log-in)."""
    SessionRecord.objects.filter(session_key=session_key).update(
        method=method, provider=provider[:50], second_factor=second_factor
    )


def session_forget(*, session_key: str, new_key: str) -> None:
    """Forget a session key that was replaced by `new_key` (Django cycles the key on a
    password change); its sockets belong to the same device, stay open and are known
    by the new key from now on."""
    SessionRecord.objects.filter(session_key=session_key).delete()
    events.publish_on_commit(events.session_renamed(old=session_key, new=new_key))


def session_closed(*, session_key: str) -> None:
    """A session ended by logging out: forget it and close its sockets."""
    SessionRecord.objects.filter(session_key=session_key).delete()
    sessions_ended([session_key])


@transaction.atomic
def sessions_end_others(*, user: User, keep: str | None) -> int:
    """End every session of the user except `keep` (None: all of them): "log out other
    devices", a password change (keep: the current session), a password reset (all).
    Returns how many were ended."""
    from importlib import import_module

    keys = selectors.session_keys(user_id=user.pk, keep=keep)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()
    SessionRecord.objects.filter(user=user, session_key__in=keys).delete()
    sessions_ended(keys)
    return len(keys)
