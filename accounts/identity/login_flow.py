"""The one end of every interactive log-in: the password (or directory) form, an SSO
callback and a sign-up link all finish here, so the second factor, the session's record
(how it signed in) and the audit trail are decided once.

complete() is called once the first factor has passed. When a second factor is due
(the user enrolled one, or CHAT_2FA_REQUIRED demands one) the session is NOT logged in:
it only holds a "pending" note (who, how, where to go next) for the second-step pages
(mfa_views.py), so no page and no socket is reachable before the code passes. Otherwise
it logs the user in, records the session's method, writes login.success and redirects."""

import enum
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import services
from accounts.identity import audit, mfa, mfa_rule
from accounts.models import SessionRecord

PENDING_KEY = "identity.pending"
AUTH_AT_KEY = "identity.auth_at"  # when this session last proved the first factor
PENDING_SECONDS = 10 * 60  # the second step must follow the password within this
REAUTH_SECONDS = 10 * 60  # a log-in this recent counts as re-authentication


@dataclass(frozen=True)
class FirstFactor:
    """How the person proved who they are before any second factor."""

    method: str  # SessionRecord.Method
    backend: str  # the authentication backend's dotted path (stored in the session)
    provider: str = ""  # the SSO provider's id
    mfa_asserted: bool = False  # the SSO provider says it checked a second factor


class Step(enum.Enum):
    """What follows the first factor."""

    LOG_IN = "log_in"  # no second factor due: logged in now
    PASSED = "passed"  # the SSO provider checked one: logged in now, counted as passed
    VERIFY = "verify"  # ask for a code from the enrolled authenticator
    ENROL = "enrol"  # required but not enrolled: enrolment before anything else


def second_step(*, asserted: bool, enrolled: bool, required: bool) -> Step:
    """The second-factor decision (pure, table-tested)."""
    if asserted:
        return Step.PASSED
    if enrolled:
        return Step.VERIFY
    return Step.ENROL if required else Step.LOG_IN


@dataclass(frozen=True)
class Pending:
    """A log-in waiting for its second factor, kept in the (anonymous) session."""

    user_id: int
    first: FirstFactor
    next_url: str
    at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "user": self.user_id,
            "method": self.first.method,
            "backend": self.first.backend,
            "provider": self.first.provider,
            "next": self.next_url,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, raw: Any) -> "Pending | None":
        try:
            first = FirstFactor(
                method=str(raw["method"]),
                backend=str(raw["backend"]),
                provider=str(raw["provider"]),
            )
            return cls(int(raw["user"]), first, str(raw["next"]), float(raw["at"]))
        except (KeyError, TypeError, ValueError):
            return None


def complete(
    request: HttpRequest, user: User, first: FirstFactor, *, next_url: str
) -> HttpResponse:
    """The first factor passed: log in and go on to `next_url` (already checked safe), or
    hold the log-in pending and ask for the second factor."""
    step = second_step(
        asserted=first.mfa_asserted,
        enrolled=mfa.enrolled(user),
        required=mfa_rule.required(user),
    )
    if step in (Step.LOG_IN, Step.PASSED):
        finish(request, user, first, second_factor=step is Step.PASSED)
        return redirect(next_url)
    pending = Pending(user.pk, first, next_url, time.time())
    request.session[PENDING_KEY] = pending.as_json()
    # A new key: a session id planted before the password cannot take over the step.
    request.session.cycle_key()
    return redirect("identity:mfa_verify" if step is Step.VERIFY else "identity:mfa_enrol")


def finish(request: HttpRequest, user: User, first: FirstFactor, *, second_factor: bool) -> None:
    """Log in now: the session records how, the audit trail says so."""
    request.session.pop(PENDING_KEY, None)
    login(request, user, backend=first.backend)
    request.session[mfa_rule.PASSED_KEY] = second_factor
    request.session[AUTH_AT_KEY] = time.time()
    services.session_describe(
        session_key=request.session.session_key or "",
        method=first.method,
        provider=first.provider,
        second_factor=second_factor,
    )
    audit.record(
        audit.SecurityEvent.LOGIN_SUCCESS,
        actor=user,
        target=user,
        reason=first.provider or first.method,
        request=request,
    )


@dataclass(frozen=True)
class Subject:
    """Whose second factor the second-step pages ask for: a pending log-in, or a
    logged-in session that has not passed one (it began before the rule applied)."""

    user: User
    pending: Pending | None


def pending_subject(request: HttpRequest) -> Subject | None:
    """The pending log-in of this session, if it is still fresh and the account active."""
    pending = Pending.from_json(request.session.get(PENDING_KEY))
    if pending is None:
        return None
    if time.time() - pending.at > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None
    user = User.objects.filter(pk=pending.user_id, is_active=True).first()
    return None if user is None else Subject(user, pending)


def unpassed_subject(request: HttpRequest) -> Subject | None:
    """The pending log-in, else a logged-in session without a passed second factor."""
    subject = pending_subject(request)
    if subject is not None:
        return subject
    user = request.user
    if isinstance(user, User) and not mfa_rule.session_passed(request.session):
        return Subject(user, None)
    return None


def second_factor_passed(request: HttpRequest, subject: Subject) -> str:
    """The code passed: a pending log-in is logged in; an already logged-in session is
    marked passed. Returns where to go next."""
    if subject.pending is not None:
        finish(request, subject.user, subject.pending.first, second_factor=True)
        return subject.pending.next_url
    request.session[mfa_rule.PASSED_KEY] = True
    request.session[AUTH_AT_KEY] = time.time()
    SessionRecord.objects.filter(session_key=request.session.session_key or "").update(
        second_factor=True
    )
    return ""


def recently_authenticated(request: HttpRequest) -> bool:
    """Did this session prove the first factor within REAUTH_SECONDS (a log-in, a
    password typed again, or a pending log-in)?"""
    if pending_subject(request) is not None:
        return True
    at = request.session.get(AUTH_AT_KEY)
    return isinstance(at, int | float) and time.time() - at <= REAUTH_SECONDS


def reauthenticated(request: HttpRequest) -> None:
    request.session[AUTH_AT_KEY] = time.time()
