"""The security events of the audit trail: one registry of their names, and one verb that
writes them (chat's AuditLog, plus a JSON log line whose `event` is the name). Every
event is written once, with who did it (the actor: None for the system or an anonymous
client) and whom it was about (the target account, or a name when there is none)."""

from enum import StrEnum

from django.contrib.auth.models import User
from django.http import HttpRequest

from accounts.limits import request_ip
from chat import services as chat_services


class SecurityEvent(StrEnum):
    LOGIN_SUCCESS = "login.success"
    # reason: "password", "second_factor", "locked", "sso_error", "ldap", "inactive"
    LOGIN_FAILURE = "login.failure"
    LOGOUT = "logout"
    MFA_ENROL = "mfa.enrol"
    MFA_REMOVE = "mfa.remove"
    MFA_RECOVERY_USE = "mfa.recovery_use"
    PASSWORD_CHANGE = "password.change"  # noqa: S105 (an event name)
    PASSWORD_RESET = "password.reset"  # noqa: S105
    EMAIL_CHANGE = "email.change"
    SSO_LINK = "sso.link"
    SESSION_SIGN_OUT = "session.sign_out"
    TOKEN_CREATE = "token.create"  # noqa: S105
    TOKEN_REVOKE = "token.revoke"  # noqa: S105
    INVITATION_CREATE = "invitation.create"
    INVITATION_USE = "invitation.use"
    STAFF_GRANT = "staff.grant"
    STAFF_REMOVE = "staff.remove"
    USER_DEACTIVATE = "user.deactivate"
    USER_REACTIVATE = "user.reactivate"
    # reason: "requested" (/accounts/export/) or "downloaded"
    DATA_EXPORT = "data.export"
    # A person erased (dataport/erase.py): reason says whether their messages went too.
    USER_ERASE = "user.erase"


def record(
    event: SecurityEvent,
    *,
    actor: User | None,
    target: User | str,
    reason: str = "",
    request: HttpRequest | None = None,
) -> None:
    """Write `event` to the audit log (inside the caller's transaction: a rolled-back
    action leaves no entry) and, once committed, to the JSON log."""
    target_user = target if isinstance(target, User) else None
    chat_services.audit_record(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=event.value,
        target=target.get_username() if isinstance(target, User) else target,
        target_user=target_user,
        reason=reason,
        ip=request_ip(request) if request is not None else None,
        security=True,
    )
