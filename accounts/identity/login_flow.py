"""The one end of every interactive log-in: the password (or directory) form, an SSO
callback and a sign-up link all finish here, so the second factor, the session's record
(how it signed in) and the audit trail are decided once.

complete() is called once the first factor has passed. It logs the user in, records the
session's method, writes login.success and redirects to `next_url`."""

from dataclasses import dataclass

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import services
from accounts.identity import audit


@dataclass(frozen=True)
class FirstFactor:
    """How the person proved who they are before any second factor."""

    method: str  # SessionRecord.Method
    backend: str  # the authentication backend's dotted path (stored in the session)
    provider: str = ""  # the SSO provider's id
    mfa_asserted: bool = False  # the SSO provider says it checked a second factor


def complete(
    request: HttpRequest, user: User, first: FirstFactor, *, next_url: str
) -> HttpResponse:
    """The first factor passed: log in and go on to `next_url` (already checked safe)."""
    login(request, user, backend=first.backend)
    services.session_describe(
        session_key=request.session.session_key or "",
        method=first.method,
        provider=first.provider,
        second_factor=first.mfa_asserted,
    )
    audit.record(
        audit.SecurityEvent.LOGIN_SUCCESS,
        actor=user,
        target=user,
        reason=first.provider or first.method,
        request=request,
    )
    return redirect(next_url)
