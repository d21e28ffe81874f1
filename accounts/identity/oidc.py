"""The OpenID Connect relying party: one Authlib Django client per provider of
CHAT_OIDC_PROVIDERS (discovery, PKCE S256, state and nonce, the ID token's signature and
claims verified by Authlib). It speaks to the provider and hands back checked claims;
which account they open is accounts/identity/oidc_accounts.py's business, not this one's."""

import functools
import logging
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from joserfc.errors import JoseError

from accounts.identity.config import OidcProvider

logger = logging.getLogger(__name__)

# Every call to a provider (discovery, keys, token) waits at most this long: a provider
# that hangs gives the "not answering" page instead of holding a worker thread.
PROVIDER_TIMEOUT_SECONDS = 10
# The `amr` values (RFC 8176) that say the provider checked a second factor.
MFA_AMR_VALUES = frozenset({"mfa", "otp"})


class ProviderDown(Exception):
    """The provider did not answer (discovery, keys or token endpoint)."""


class ProviderRefused(Exception):
    """The answer is not to be trusted: unknown state, wrong nonce, bad signature or
    claims, an error from the provider, a configuration that does not match."""


@dataclass(frozen=True)
class Claims:
    """What the verified ID token (and the userinfo endpoint, for what it lacks) says."""

    sub: str
    email: str
    email_verified: bool
    given_name: str
    family_name: str
    name: str
    preferred_username: str
    amr: tuple[str, ...]

    @property
    def mfa_asserted(self) -> bool:
        return bool(MFA_AMR_VALUES & set(self.amr))


def provider_by_id(provider_id: str) -> OidcProvider | None:
    for provider in settings.CHAT_OIDC_PROVIDERS:
        if provider.id == provider_id:
            return provider
    return None


@functools.cache
def _client(provider: OidcProvider) -> DjangoOAuth2App:
    """One client per provider and process: it keeps the discovery document and the
    signing keys it fetched (keys are fetched again when a token names a new one)."""
    registry = OAuth()
    client: DjangoOAuth2App = registry.register(
        name=f"oidc-{provider.id}",
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        server_metadata_url=f"{provider.issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": provider.scopes,
            "code_challenge_method": "S256",
            "default_timeout": PROVIDER_TIMEOUT_SECONDS,
        },
    )
    return client


def _metadata(provider: OidcProvider) -> dict[str, Any]:
    client = _client(provider)
    try:
        metadata: dict[str, Any] = client.load_server_metadata()
    except (requests.RequestException, ValueError) as error:
        raise ProviderDown(f"discovery: {type(error).__name__}") from error
    # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was asked
    # for, else another issuer's tokens could be taken for this one's.
    if str(metadata.get("issuer", "")).rstrip("/") != provider.issuer:
        client.server_metadata.pop("_loaded_at", None)  # asked again next time
        raise ProviderRefused(f"discovery names issuer {metadata.get('issuer')!r}")
    return metadata


def authorize_redirect(
    request: HttpRequest, provider: OidcProvider, *, redirect_uri: str, state: str
) -> HttpResponse:
    """The redirect to the provider's authorization endpoint. Authlib keeps the state,
    the nonce and the PKCE verifier in the session for the callback."""
    _metadata(provider)
    try:
        response: HttpResponse = _client(provider).authorize_redirect(
            request, redirect_uri, state=state
        )
    except requests.RequestException as error:
        raise ProviderDown(type(error).__name__) from error
    return response


def authorize_finish(request: HttpRequest, provider: OidcProvider) -> Claims:
    """Check the callback (state), exchange the code (with the PKCE verifier) and verify
    the ID token (signature by the provider's keys; iss, aud, exp, nonce). Raises
    ProviderDown or ProviderRefused."""
    client = _client(provider)
    _metadata(provider)
    try:
        token = client.authorize_access_token(request)
    except requests.RequestException as error:
        raise ProviderDown(f"token: {type(error).__name__}") from error
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as error:
        raise ProviderRefused(f"{type(error).__name__}: {error}") from error
    # Authlib verifies an ID token only when there is one: without it nothing says who
    # this is, so a token response without one is refused.
    verified = token.get("userinfo")
    if not verified or not verified.get("sub"):
        raise ProviderRefused("no verified ID token in the token response")
    claims = dict(verified)
    if "email" not in claims and _metadata(provider).get("userinfo_endpoint"):
        claims = _with_userinfo(client, token, claims)
    return _claims(claims)


def _with_userinfo(
    client: DjangoOAuth2App, token: dict[str, Any], claims: dict[str, Any]
) -> dict[str, Any]:
    """Fill in what the ID token left to the userinfo endpoint (OIDC Core §5.3.2: its
    `sub` must be the ID token's, or the answer is someone else's)."""
    try:
        extra = dict(client.userinfo(token=token))
    except requests.RequestException as error:
        raise ProviderDown(f"userinfo: {type(error).__name__}") from error
    except (AuthlibBaseError, ValueError) as error:
        raise ProviderRefused(f"userinfo: {error}") from error
    if extra.get("sub") != claims["sub"]:
        raise ProviderRefused("userinfo is about another subject")
    return {**extra, **claims}


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def _claims(claims: dict[str, Any]) -> Claims:
    amr = claims.get("amr")
    verified = claims.get("email_verified")
    return Claims(
        sub=str(claims["sub"]),
        email=_text(claims, "email"),
        # Some providers send "true" as a string; anything else is not a yes.
        email_verified=verified is True or verified == "true",
        given_name=_text(claims, "given_name"),
        family_name=_text(claims, "family_name"),
        name=_text(claims, "name"),
        preferred_username=_text(claims, "preferred_username"),
        amr=tuple(str(v) for v in amr) if isinstance(amr, list) else (),
    )
