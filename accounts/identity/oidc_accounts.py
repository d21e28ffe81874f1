"""Which account a verified SSO log-in opens (the issue's rules, in this order): the
provider's `sub` already linked; else an account whose address the provider says is
verified and equal (linked now, audited); else a new account when sign-up allows it
(CHAT_SIGNUP, CHAT_SIGNUP_EMAIL_DOMAINS for verified addresses, or an invitation carried
through the round trip). Name and email are refreshed at each log-in. Writes only; the
log-in itself is login_flow.complete's."""

import re

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts import limits, profiles, services
from accounts.identity import audit
from accounts.identity.config import OidcProvider
from accounts.identity.oidc import Claims
from accounts.models import Profile, SsoIdentity
from chat.errors import ChatError

_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
USERNAME_MAX_CHARS = 150
USERNAME_TRIES = 100


class SsoRefused(Exception):
    """No account for this log-in: `reason` for the audit trail, `detail` for the person."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@transaction.atomic
def sso_account(
    *,
    provider: OidcProvider,
    claims: Claims,
    invitation_secret: str = "",
    request: HttpRequest | None = None,
) -> User:
    """The account this verified log-in opens, linked or created as the rules say, with
    its name and email refreshed. Raises SsoRefused."""
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(provider=provider.id, sub=claims.sub)
        .first()
    )
    if identity is not None:
        user = identity.user
    else:
        user = _linked(provider, claims, request) or _created(
            provider, claims, invitation_secret, request
        )
        identity = SsoIdentity.objects.get(provider=provider.id, sub=claims.sub)
    if not user.is_active:
        raise SsoRefused("inactive", "This account is deactivated. Ask an administrator.")
    _refresh(user, provider, claims, request)
    identity.last_login = timezone.now()
    identity.save(update_fields=["last_login"])
    return user


def _linked(provider: OidcProvider, claims: Claims, request: HttpRequest | None) -> User | None:
    """An existing account taken over only when the provider vouches for the address:
    an unverified one could be anybody's."""
    if not (claims.email_verified and claims.email):
        return None
    matches = list(User.objects.filter(email__iexact=claims.email)[:2])
    if len(matches) != 1:  # none, or ambiguous: never guess whose it is
        return None
    user = matches[0]
    if Profile.objects.filter(user=user, is_bot=True).exists():
        raise SsoRefused("sso_error", "This address belongs to a bot account, which never logs in.")
    if SsoIdentity.objects.filter(provider=provider.id, user=user).exists():
        raise SsoRefused(
            "sso_error",
            f"The account with this address is already linked to another {provider.name} identity.",
        )
    SsoIdentity.objects.create(provider=provider.id, sub=claims.sub, user=user)
    audit.record(
        audit.SecurityEvent.SSO_LINK, actor=user, target=user, reason=provider.id, request=request
    )
    return user


def _created(
    provider: OidcProvider, claims: Claims, invitation_secret: str, request: HttpRequest | None
) -> User:
    taken = bool(claims.email) and User.objects.filter(email__iexact=claims.email).exists()
    email = "" if taken else claims.email  # an address already in use stays its owner's
    try:
        user = services.user_signup(
            username=_free_username(claims),
            password=None,  # SSO only, until the person sets one by a reset
            email=email,
            invitation_secret=invitation_secret,
            verified_email=email if claims.email_verified else "",
            ip=limits.request_ip(request) if request is not None else None,
        )
    except services.InvitationInvalid as problem:
        raise SsoRefused("sso_no_account", problem.detail) from None
    except ChatError:
        raise SsoRefused(
            "sso_no_account",
            f"There is no account here for your {provider.name} identity, and sign-up needs"
            " an invitation: ask for an invitation link and open it before logging in.",
        ) from None
    # A race with the same person's log-in in another tab ends in IntegrityError, and the
    # whole transaction (the new account included) rolls back.
    # invitation.use was audited by user_signup, as for every sign-up.
    SsoIdentity.objects.create(provider=provider.id, sub=claims.sub, user=user)
    return user


def _free_username(claims: Claims) -> str:
    """A username from what the provider calls the person, made unique here."""
    for candidate in (claims.preferred_username, claims.email.split("@")[0], claims.name):
        base = _USERNAME_UNSAFE.sub("", candidate.replace(" ", "."))[: USERNAME_MAX_CHARS - 4]
        if base:
            break
    else:
        base = "user"
    for n in range(1, USERNAME_TRIES + 1):
        name = base if n == 1 else f"{base}{n}"
        if not User.objects.filter(username__iexact=name).exists():
            return name
    raise SsoRefused("sso_error", "No free username could be made: ask an administrator.")


def _refresh(
    user: User, provider: OidcProvider, claims: Claims, request: HttpRequest | None
) -> None:
    """The provider is where the name and address are kept: take them at each log-in
    (an address another account has is left to that account)."""
    first = claims.given_name or (claims.name.split(" ", 1)[0] if claims.name else "")
    last = claims.family_name or (claims.name.split(" ", 1)[1] if " " in claims.name else "")
    changed: list[str] = []
    if (first or last) and (user.first_name, user.last_name) != (first[:150], last[:150]):
        user.first_name, user.last_name = first[:150], last[:150]
        changed += ["first_name", "last_name"]
    email = User.objects.normalize_email(claims.email)
    if (
        email
        and email.lower() != user.email.lower()
        and not User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists()
    ):
        user.email = email
        changed.append("email")
        audit.record(
            audit.SecurityEvent.EMAIL_CHANGE,
            actor=None,
            target=user,
            reason=f"sso:{provider.id}",
            request=request,
        )
    if changed:
        user.save(update_fields=changed)
    _display_name_refresh(user, claims.name or f"{first} {last}".strip())


def _display_name_refresh(user: User, name: str) -> None:
    """The name shown in the chat is the profile's display name: the provider's, live
    for everyone when it changes (profiles.profile_update publishes it)."""
    limit = settings.CHAT_DISPLAY_NAME_MAX_CHARS
    current = Profile.objects.filter(user=user).values_list("display_name", flat=True).first()
    try:
        wanted = profiles.display_name_clean(name[:limit])
    except ChatError:  # control or invisible characters: keep the one it has
        return
    if wanted and wanted != (current or ""):
        profiles.profile_update(user=user, display_name=wanted)
