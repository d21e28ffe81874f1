"""Account pages: sign-up under the policy (CHAT_SIGNUP), invitations, the settings
page (profile, email, other devices); the password pages are password_views.py.
Thin: read through selectors, write through services."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts import limits, mailing, profiles, selectors, services
from accounts.forms import (
    EmailForm,
    EmailSignupForm,
    InvitationForm,
    PreferencesForm,
    ProfileForm,
    SignupForm,
)
from accounts.identity import login_flow, sessions
from chat.errors import ChatError
from chat.protocol.codes import ErrorCode

SIGNUP_EMAIL_SALT = "accounts.signup-email"
SIGNUP_EMAIL_MAX_AGE_SECONDS = 2 * 24 * 3600


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


# --- sign-up --------------------------------------------------------------------------


def _signup_form_page(
    request: HttpRequest, *, secret: str = "", verified_email: str = "", rooms: list[str]
) -> HttpResponse:
    form = SignupForm(request.POST or None, verified_email=verified_email)
    status = 200
    # CHAT_PASSWORD_LOGIN=off: accounts come through single sign-on only (the page shows
    # its "Sign up with ..." buttons and no form).
    if request.method == "POST" and settings.CHAT_PASSWORD_LOGIN and form.is_valid():
        try:
            user = services.user_signup(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                email=form.cleaned_data.get("email") or "",
                invitation_secret=secret,
                verified_email=verified_email,
                ip=limits.request_ip(request),
            )
        except services.InvitationInvalid as problem:  # used up while the form was open
            return _invitation_problem(request, problem)
        except ChatError as error:
            form.add_error(None, error.detail)
            status = 403
        else:
            # Like every log-in, through login_flow (a second factor may be required).
            first = login_flow.FirstFactor(
                method="link" if secret or verified_email else "password",
                backend="django.contrib.auth.backends.ModelBackend",
            )
            # the browse page, with the rooms joined
            return login_flow.complete(request, user, first, next_url=reverse("chat:index"))
    context = {"form": form, "rooms": rooms, "verified_email": verified_email}
    return render(request, "registration/signup.html", context, status=status)


def _invitation_problem(request: HttpRequest, problem: services.InvitationInvalid) -> HttpResponse:
    limits.invitation_guess_failed(request)
    return render(
        request,
        "accounts/invitation_invalid.html",
        {"detail": problem.detail, "state": problem.state},
        status=403,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest, token: str = "") -> HttpResponse:
    """The sign-up page: open to anyone, with an invitation, or closed (CHAT_SIGNUP)."""
    if request.user.is_authenticated:
        return redirect("chat:index")
    mode = settings.CHAT_SIGNUP
    if mode == "closed":
        return render(request, "accounts/signup_closed.html", {"mode": mode}, status=403)
    if token:
        if not limits.invitation_guess_allowed(request):
            return render(request, "accounts/invitation_limited.html", status=429)
        try:
            invitation = services.invitation_check(token)
        except services.InvitationInvalid as problem:
            return _invitation_problem(request, problem)
        rooms = sorted(room.name for room in invitation.rooms.all())
        return _signup_form_page(request, secret=token, rooms=rooms)
    if mode == "open":
        return _signup_form_page(request, rooms=[])
    return _invitation_needed(request)


def _invitation_needed(request: HttpRequest) -> HttpResponse:
    """Invite-only without an invitation: 403 and nothing is created. With allowed email
    domains, an address there gets a sign-up link by mail (proving it is theirs)."""
    offer_email = bool(settings.CHAT_SIGNUP_EMAIL_DOMAINS) and settings.CHAT_EMAIL_CONFIGURED
    form = EmailSignupForm(request.POST or None) if offer_email else None
    sent = False
    if form is not None and request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        link = request.build_absolute_uri(
            reverse("signup_email", args=[signing.dumps(email, salt=SIGNUP_EMAIL_SALT)])
        )
        mailing.send_later(
            "Your sign-up link",
            f"Sign up for the chat with this link (valid for two days):\n\n{link}\n\n"
            "If you did not ask for it, ignore this email.",
            email,
        )
        sent = True
    domains = ["@" + domain for domain in settings.CHAT_SIGNUP_EMAIL_DOMAINS]
    context = {"form": form, "sent": sent, "domains": domains}
    return render(request, "accounts/invitation_needed.html", context, status=403)


@never_cache
@require_http_methods(["GET", "POST"])
def signup_email(request: HttpRequest, token: str) -> HttpResponse:
    """Sign-up through a link mailed to an address in CHAT_SIGNUP_EMAIL_DOMAINS."""
    if request.user.is_authenticated:
        return redirect("chat:index")
    try:
        email = signing.loads(token, salt=SIGNUP_EMAIL_SALT, max_age=SIGNUP_EMAIL_MAX_AGE_SECONDS)
    except signing.BadSignature:
        email = ""
    if (
        settings.CHAT_SIGNUP != "invite"
        or not isinstance(email, str)
        or not services.email_domain_allowed(email)
    ):
        detail = "This sign-up link is not valid or has expired."
        return render(request, "accounts/invitation_invalid.html", {"detail": detail}, status=403)
    if selectors.email_in_use(email):  # the link made its account: it is used up
        detail = (
            "An account already uses this address: log in, or reset its password if it is"
            " forgotten."
        )
        return render(request, "accounts/invitation_invalid.html", {"detail": detail}, status=403)
    return _signup_form_page(request, verified_email=email, rooms=[])


# --- invitations ----------------------------------------------------------------------


@never_cache  # the page can show a new link
@login_required
@require_http_methods(["GET", "POST"])
def invitations(request: HttpRequest) -> HttpResponse:
    """Staff (and, with CHAT_INVITE_ROOM_OWNERS, room owners) make and revoke links."""
    user = _user(request)
    if not (user.is_staff or settings.CHAT_INVITE_ROOM_OWNERS):
        return render(request, "chat/forbidden.html", {"detail": "Only staff invite."}, status=403)
    created_link = ""
    error = ""
    form = InvitationForm(user=user)
    if request.method == "POST" and request.POST.get("action") == "revoke":
        try:
            services.invitation_revoke(
                invitation_id=int(request.POST.get("invitation", "0")), actor=user
            )
        except (ChatError, ValueError):
            error = "No such invitation of yours."
        else:
            return redirect("accounts:invitations")
    elif request.method == "POST":
        form = InvitationForm(request.POST, user=user)
        if form.is_valid():
            try:
                new = services.invitation_create(
                    creator=user,
                    days=form.cleaned_data["days"],
                    max_uses=form.cleaned_data["max_uses"],
                    note=form.cleaned_data["note"],
                    rooms=list(form.cleaned_data["rooms"]),
                )
            except ChatError as failure:
                error = failure.detail
            else:
                created_link = request.build_absolute_uri(
                    reverse("signup_invited", args=[new.secret])
                )
                form = InvitationForm(user=user)
    context = {
        "form": form,
        "invitations": selectors.invitation_list(user=user),
        "created_link": created_link,
        "error": error,
        "mode": settings.CHAT_SIGNUP,
    }
    return render(request, "accounts/invitations.html", context, status=400 if error else 200)


# --- settings -------------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    """Profile (display name, avatar), look and time zone, email address and "log out
    other devices"."""
    user = _user(request)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    profile_form = ProfileForm(
        request.POST if action == "profile" else None,
        request.FILES if action == "profile" else None,
    )
    email_form = EmailForm(
        request.POST if action == "email" else None, initial={"email": user.email}
    )
    preferences_form = PreferencesForm(
        request.POST if action == "preferences" else None,
        initial={
            "theme": selectors.profile_theme(user_id=user.pk),
            "timezone": selectors.profile_timezone(user_id=user.pk),
        },
    )
    status = 200
    if action == "preferences":
        if preferences_form.is_valid():
            try:
                profiles.profile_preferences_set(
                    user=user,
                    theme=preferences_form.cleaned_data["theme"],
                    timezone_name=preferences_form.cleaned_data["timezone"],
                )
            except ChatError as error:  # nothing was changed
                field = "timezone" if error.code == ErrorCode.BAD_TZ else "theme"
                preferences_form.add_error(field, error.detail)
            else:
                return redirect(reverse("accounts:settings") + "?saved=preferences")
        status = 400
    elif action == "profile" and profile_form.is_valid():
        upload = profile_form.cleaned_data["avatar"]
        try:
            profiles.profile_update(
                user=user,
                display_name=profile_form.cleaned_data["display_name"],
                avatar=upload,
                avatar_name=getattr(upload, "name", None) or "avatar",
                avatar_remove=profile_form.cleaned_data["avatar_remove"] and upload is None,
            )
        except ChatError as error:  # nothing was changed
            field = "display_name" if "display_name" in error.code else "avatar"
            profile_form.add_error(field, error.detail)
            status = 400
        else:
            return redirect(reverse("accounts:settings") + "?saved=profile")
    elif action == "email" and email_form.is_valid():
        profiles.email_change(user=user, email=email_form.cleaned_data["email"], request=request)
        return redirect(reverse("accounts:settings") + "?saved=email")
    elif action == "sessions":
        ended = sessions.sessions_sign_out_others(user=user, request=request)
        return redirect(reverse("accounts:settings") + f"?ended={ended}")
    elif action:
        status = 400
    current = selectors.profile_for_edit(user=user)
    if action != "profile":
        profile_form = ProfileForm(initial={"display_name": current["display_name"]})
    context = {
        "profile_form": profile_form,
        "preferences_form": preferences_form,
        "email_form": email_form,
        "current": current,
        "saved": request.GET.get("saved", ""),
        "ended": request.GET.get("ended", ""),
        "other_sessions": len(
            selectors.session_keys(user_id=user.pk, keep=request.session.session_key)
        ),
        "max_image_bytes": settings.CHAT_IMAGE_MAX_BYTES,
    }
    return render(request, "accounts/settings.html", context, status=status)
