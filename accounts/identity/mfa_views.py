"""The second-factor pages under /accounts/2fa/: the second step of a log-in (a code
from the authenticator or a recovery code), enrolment (QR code and secret, confirmed by
a first code; 10 recovery codes shown once), the settings page (replace, new recovery
codes, remove) and re-authentication before enrolment or removal.

Thin: the decision and the log-in are login_flow's, the devices mfa.py's. Wrong codes
count as failed log-ins in django-axes (the password form's lockout, shared with it)."""

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.identity import audit, login_flow, mfa, mfa_rule
from accounts.password_views import login_locked_out

ENROL_DEVICE_KEY = "identity.enrol_device"
CODES_KEY = "identity.recovery_codes"  # shown once by mfa_codes, then gone


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


def _safe_next(request: HttpRequest, url: str) -> str:
    ok = url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if ok else reverse("chat:index")


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


def _failed(request: HttpRequest, user: User) -> None:
    """A wrong code: audited, and counted by django-axes against the account and the
    address (its handler directly, not Django's user_login_failed signal, whose
    receivers take it for a wrong password). At the limit, axes' middleware answers
    with the lockout page."""
    audit.record(
        audit.SecurityEvent.LOGIN_FAILURE,
        actor=None,
        target=user,
        reason="second_factor",
        request=request,
    )
    AxesProxyHandler.user_login_failed(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )


def _locked(request: HttpRequest, user: User) -> bool:
    return bool(AxesProxyHandler.is_locked(request, {"username": user.get_username()}))


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the authenticator app, or a recovery code."""
    subject = login_flow.unpassed_subject(request)
    if subject is None:
        return redirect("chat:index" if request.user.is_authenticated else "login")
    user = subject.user
    if not mfa.enrolled(user):
        return redirect("identity:mfa_enrol")
    if _locked(request, user):
        if request.method == "POST":  # an attempt refused (not a page reload)
            audit.record(
                audit.SecurityEvent.LOGIN_FAILURE,
                actor=None,
                target=user,
                reason="locked",
                request=request,
            )
        return login_locked_out(request)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if mfa.second_factor_check(user, form.cleaned_data["code"]) is not None:
            next_url = login_flow.second_factor_passed(request, subject)
            return redirect(_safe_next(request, next_url))
        _failed(request, user)
        form.add_error("code", "That code is not right, or was already used.")
        status = 400
    context = {"form": form, "subject": user, "pending": subject.pending is not None}
    return render(request, "accounts/mfa_verify.html", context, status=status)


def _enrolment_subject(request: HttpRequest) -> login_flow.Subject | HttpResponse:
    """Who enrols: a pending log-in that must enrol, or a logged-in user. Someone who has
    an authenticator but has not passed it this session may not replace it."""
    subject = login_flow.pending_subject(request)
    if subject is None and isinstance(request.user, User):
        subject = login_flow.Subject(request.user, None)
    if subject is None:
        return redirect(f"{reverse('login')}?next={reverse('identity:mfa')}")
    passed = subject.pending is None and mfa_rule.session_passed(request.session)
    if mfa.enrolled(subject.user) and not passed:
        return redirect("identity:mfa_verify")
    if not login_flow.recently_authenticated(request):
        return redirect(f"{reverse('identity:mfa_reauth')}?next={reverse('identity:mfa_enrol')}")
    return subject


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_enrol(request: HttpRequest) -> HttpResponse:
    """Enrolment: scan the QR code (or type the secret), confirm with the first code."""
    subject = _enrolment_subject(request)
    if isinstance(subject, HttpResponse):
        return subject
    user = subject.user
    form = CodeForm(request.POST or None)
    status = 200
    enrolment = None
    if request.method == "POST":
        device_id = request.session.get(ENROL_DEVICE_KEY)
        enrolment = mfa.enrolment_show(user, device_id) if isinstance(device_id, int) else None
        if enrolment is not None and form.is_valid():
            codes = mfa.enrolment_confirm(user, enrolment.device_id, form.cleaned_data["code"])
            if codes is not None:
                request.session.pop(ENROL_DEVICE_KEY, None)
                next_url = ""
                if not mfa_rule.session_passed(request.session) or subject.pending is not None:
                    next_url = login_flow.second_factor_passed(request, subject)
                request.session[CODES_KEY] = {"codes": codes, "next": next_url}
                return redirect("identity:mfa_codes")
            form.add_error("code", "That code is not right. Check the app and try the next one.")
        status = 400
    if enrolment is None:
        enrolment = mfa.enrolment_start(user)
        request.session[ENROL_DEVICE_KEY] = enrolment.device_id
        form = CodeForm()
    context = {
        "form": form,
        "enrolment": enrolment,
        "forced": subject.pending is not None or not mfa_rule.session_passed(request.session),
        "required": mfa_rule.required(user),
        "replacing": mfa.enrolled(user),
    }
    return render(request, "accounts/mfa_enrol.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET"])
def mfa_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes, shown once: a reload shows that they were."""
    shown = request.session.pop(CODES_KEY, None)
    codes: list[Any] = shown.get("codes", []) if isinstance(shown, dict) else []
    next_url = _safe_next(request, shown.get("next", "") if isinstance(shown, dict) else "")
    return render(
        request, "accounts/mfa_codes.html", {"codes": codes, "next": next_url}, status=200
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def mfa_settings(request: HttpRequest) -> HttpResponse:
    """Two-factor authentication on the account: set up, replace, new recovery codes,
    remove (the last two after re-authentication)."""
    user = _user(request)
    enrolled = mfa.enrolled(user)
    if enrolled and not mfa_rule.session_passed(request.session):
        return redirect("identity:mfa_verify")
    action = request.POST.get("action", "") if request.method == "POST" else ""
    if action in ("remove", "codes") and enrolled:
        if not login_flow.recently_authenticated(request):
            return redirect(f"{reverse('identity:mfa_reauth')}?next={reverse('identity:mfa')}")
        if action == "remove":
            mfa.mfa_remove(user, actor=user)
            # A required user is sent to enrol again before anything else (the gate).
            request.session[mfa_rule.PASSED_KEY] = False
            return redirect(f"{reverse('identity:mfa')}?removed=1")
        request.session[CODES_KEY] = {"codes": mfa.recovery_codes_renew(user), "next": ""}
        return redirect("identity:mfa_codes")
    context = {
        "enrolled": enrolled,
        "codes_left": mfa.recovery_codes_left(user) if enrolled else 0,
        "required": mfa_rule.required(user),
        "removed": request.GET.get("removed") == "1",
    }
    return render(request, "accounts/mfa_settings.html", context, status=400 if action else 200)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def mfa_reauth(request: HttpRequest) -> HttpResponse:
    """Type the password again before changing the second factor. An account without a
    password (single sign-on) logs in again instead: a fresh log-in counts."""
    user = _user(request)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    form = PasswordForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        # Through every backend, axes first: a locked account stays locked here too.
        again = authenticate(
            request, username=user.get_username(), password=form.cleaned_data["password"]
        )
        if again is not None and again.pk == user.pk:
            login_flow.reauthenticated(request)
            return redirect(next_url)
        form.add_error("password", "That is not your password.")
        status = 400
    context = {"form": form, "next": next_url, "has_password": user.has_usable_password()}
    return render(request, "accounts/mfa_reauth.html", context, status=status)
