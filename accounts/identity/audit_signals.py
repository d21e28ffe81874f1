"""The security events Django's auth signals carry: a failed log-in (with why: the
password, or an inactive account) and a log-out. Connected by accounts/apps.py. Locked
out (django-axes) and second-factor failures are written where they are decided."""

from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.identity import audit

MAX_NAME_CHARS = 150  # what a failed log-in records of a username that is no account


def _failure_reason(user: User | None, password: str) -> str:
    """ "inactive" only when the password was right for an inactive account (Django's
    backends refuse those without saying why); otherwise "password". The extra hash is
    spent only on inactive accounts."""
    if user is not None and not user.is_active and password and user.check_password(password):
        return "inactive"
    return "password"


@receiver(user_login_failed, dispatch_uid="accounts.identity.login_failed")
def login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # A locked-out attempt is refused by axes before any password is checked; its own
    # "locked" event is written where the lockout answers.
    if request is not None and getattr(request, "axes_locked_out", False):
        return
    username = str(credentials.get("username") or "")[:MAX_NAME_CHARS]
    user = User.objects.filter(username=username).first() if username else None
    audit.record(
        audit.SecurityEvent.LOGIN_FAILURE,
        actor=None,
        target=user if user is not None else username or "(no username)",
        reason=_failure_reason(user, str(credentials.get("password") or "")),
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="accounts.identity.logged_out")
def logged_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit.record(audit.SecurityEvent.LOGOUT, actor=user, target=user, request=request)
