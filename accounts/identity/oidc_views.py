"""Single sign-on pages: /accounts/sso/<id>/login/ sends the browser to the provider,
/accounts/sso/<id>/callback/ takes its answer back, picks the account
(oidc_accounts.sso_account) and ends in login_flow.complete. Thin: the protocol is
oidc.py's, the account rules oidc_accounts.py's."""

import logging
import secrets
from typing import TypedDict

from django.conf import settings
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts import limits, services
from accounts.identity import audit, login_flow, oidc, oidc_accounts
from accounts.identity.config import OidcProvider

logger = logging.getLogger(__name__)

# The session remembers a few log-ins in progress (one per tab), each under its state.
PENDING_KEY = "oidc_pending"
MAX_PENDING = 5
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class Pending(TypedDict):
    provider: str
    next: str
    invitation: str


def _provider(provider_id: str) -> OidcProvider:
    provider = oidc.provider_by_id(provider_id)
    if provider is None:
        raise Http404("No such sign-in provider.")
    return provider


def _safe_next(request: HttpRequest, candidate: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _failed(
    request: HttpRequest,
    provider: OidcProvider,
    *,
    reason: str,
    detail: str,
    status: int,
    target: str = "",
    down: bool = False,
) -> HttpResponse:
    """Audit a refused SSO log-in and say so on a page that offers a way on."""
    audit.record(
        audit.SecurityEvent.LOGIN_FAILURE,
        actor=None,
        target=target or provider.id,
        reason=reason,
        request=request,
    )
    context = {
        "provider": provider,
        "detail": detail,
        "down": down,
        "password_login": settings.CHAT_PASSWORD_LOGIN,
    }
    return render(request, "accounts/sso_problem.html", context, status=status)


def _down(request: HttpRequest, provider: OidcProvider, error: Exception) -> HttpResponse:
    logger.warning("SSO provider %s is not answering: %s", provider.id, error)
    return _failed(
        request,
        provider,
        reason="sso_error",
        detail=f"{provider.name} is not answering right now, so you cannot log in with it."
        " Try again in a few minutes; if it goes on, tell your administrator.",
        status=503,
        down=True,
    )


@never_cache
@require_GET
def sso_login(request: HttpRequest, provider_id: str) -> HttpResponse:
    """Start the authorization code flow (PKCE, state, nonce) at the provider. Carries
    `next` and an invitation (`invitation`) through the round trip in the session."""
    provider = _provider(provider_id)
    next_url = _safe_next(request, request.GET.get("next", ""))
    if request.user.is_authenticated:
        return redirect(next_url)
    invitation = request.GET.get("invitation", "")
    if invitation:
        if not limits.invitation_guess_allowed(request):
            return render(request, "accounts/invitation_limited.html", status=429)
        try:
            services.invitation_check(invitation)
        except services.InvitationInvalid as problem:
            limits.invitation_guess_failed(request)
            context = {"detail": problem.detail, "state": problem.state}
            return render(request, "accounts/invitation_invalid.html", context, status=403)
    state = secrets.token_urlsafe(32)
    redirect_uri = request.build_absolute_uri(reverse("identity:oidc_callback", args=[provider.id]))
    try:
        response = oidc.authorize_redirect(
            request, provider, redirect_uri=redirect_uri, state=state
        )
    except oidc.ProviderDown as error:
        return _down(request, provider, error)
    except oidc.ProviderRefused as error:
        logger.warning("SSO provider %s is misconfigured: %s", provider.id, error)
        return _failed(
            request,
            provider,
            reason="sso_error",
            detail=f"{provider.name} is not set up correctly here. Tell your administrator.",
            status=502,
        )
    pending: dict[str, Pending] = dict(request.session.get(PENDING_KEY, {}))
    pending[state] = Pending(provider=provider.id, next=next_url, invitation=invitation)
    request.session[PENDING_KEY] = dict(list(pending.items())[-MAX_PENDING:])
    return response


@never_cache
@require_GET
def sso_callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    """The provider's answer: verified (state, PKCE, ID token), then the account rules,
    then the one log-in end."""
    provider = _provider(provider_id)
    pending_all: dict[str, Pending] = dict(request.session.get(PENDING_KEY, {}))
    pending = pending_all.pop(request.GET.get("state", ""), None)
    request.session[PENDING_KEY] = pending_all
    try:
        claims = oidc.authorize_finish(request, provider)
    except oidc.ProviderDown as error:
        return _down(request, provider, error)
    except oidc.ProviderRefused as error:
        logger.warning("SSO answer from %s refused: %s", provider.id, error)
        said = request.GET.get("error", "")[:100]  # e.g. access_denied: the person said no
        detail = (
            f"{provider.name} did not log you in ({said})."
            if said
            else f"The answer from {provider.name} could not be verified, so you are not logged in."
        )
        return _failed(
            request,
            provider,
            reason="sso_error",
            detail=f"{detail} Start again from the log-in page.",
            status=400,
        )
    if pending is None or pending["provider"] != provider.id:  # Authlib checked the state
        pending = Pending(provider=provider.id, next="", invitation="")
    try:
        user = oidc_accounts.sso_account(
            provider=provider,
            claims=claims,
            invitation_secret=pending["invitation"],
            request=request,
        )
    except IntegrityError:  # the same identity linked by a log-in in another tab meanwhile
        return _failed(
            request,
            provider,
            reason="sso_error",
            detail="Another log-in of yours finished meanwhile. Start again from the log-in page.",
            status=409,
            target=f"{provider.id}:{claims.sub}",
        )
    except oidc_accounts.SsoRefused as refused:
        return _failed(
            request,
            provider,
            reason=refused.reason,
            detail=refused.detail,
            status=403,
            target=f"{provider.id}:{claims.sub}",
        )
    first = login_flow.FirstFactor(
        method="sso",
        backend=MODEL_BACKEND,
        provider=provider.id,
        mfa_asserted=claims.mfa_asserted,
    )
    return login_flow.complete(request, user, first, next_url=_safe_next(request, pending["next"]))
