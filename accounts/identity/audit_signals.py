"""The security events Django's auth signals carry: a failed log-in (with why: the
password, or an inactive account) and a log-out. Connected by accounts/apps.py. Locked
out (django-axes) and second-factor failures are written where they are decided."""

from typing import Any

from axes.helpers import get_failure_limit
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.identity import audit

MAX_NAME_CHARS = 150  # what a failed log-in records of a username that is no account


def _refused_by_lockout(request: HttpRequest, credentials: dict[str, Any]) -> bool:
    """The lockout already held before this attempt, so axes refused it without checking
    any password (its "locked" event is written where the lockout answers). axes counts
    such attempts too (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT): past the limit,
    this one was refused unchecked; the one that reaches the limit was a wrong password."""
    if not getattr(request, "axes_locked_out", False):
        return False
    failures = getattr(request, "axes_failures_since_start", None)
    return failures is None or failures > get_failure_limit(request, credentials)


@receiver(user_login_failed, dispatch_uid="accounts.identity.login_failed")
def login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is not None and _refused_by_lockout(request, credentials):
        return
    username = str(credentials.get("username") or "")[:MAX_NAME_CHARS]
    user = User.objects.filter(username=username).first() if username else None
    # Django's backends refuse an inactive account without saying why (and the signal's
    # credentials hide the password): such an account can never log in, so "inactive".
    reason = "inactive" if user is not None and not user.is_active else "password"
    audit.record(
        audit.SecurityEvent.LOGIN_FAILURE,
        actor=None,
        target=user if user is not None else username or "(no username)",
        reason=reason,
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="accounts.identity.logged_out")
def logged_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit.record(audit.SecurityEvent.LOGOUT, actor=user, target=user, request=request)
