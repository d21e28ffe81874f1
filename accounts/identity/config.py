"""Identity settings read from the environment (chatsite/settings.py calls these). Pure:
no Django settings or models here, so a wrong value stops the start with a clear error."""

import json
import re
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
SECOND_FACTOR_RULES = ("none", "staff", "all")


@dataclass(frozen=True)
class OidcProvider:
    """One OpenID Provider: a "Log in with <name>" button on the log-in page."""

    id: str  # in URLs (/accounts/sso/<id>/...) and on linked identities
    name: str
    issuer: str  # discovery at <issuer>/.well-known/openid-configuration
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"


def oidc_providers(raw: str) -> list[OidcProvider]:
    """CHAT_OIDC_PROVIDERS: a JSON list of {"id", "name", "issuer", "client_id",
    "client_secret", "scopes"} ("scopes": a list or a space-separated string; openid is
    always asked for)."""
    if not raw.strip():
        return []
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"CHAT_OIDC_PROVIDERS is not JSON: {error}") from None
    if not isinstance(items, list):
        raise ImproperlyConfigured("CHAT_OIDC_PROVIDERS must be a JSON list of objects.")
    providers: list[OidcProvider] = []
    for n, item in enumerate(items):
        where = f"CHAT_OIDC_PROVIDERS[{n}]"
        if not isinstance(item, dict):
            raise ImproperlyConfigured(f"{where} must be an object.")
        missing = [k for k in ("id", "name", "issuer", "client_id") if not item.get(k)]
        if missing:
            raise ImproperlyConfigured(f"{where} lacks {', '.join(missing)}.")
        if not isinstance(item["id"], str) or not _PROVIDER_ID.match(item["id"]):
            raise ImproperlyConfigured(f"{where}: id must be lower-case letters, digits, - or _.")
        issuer = str(item["issuer"]).rstrip("/")
        if not issuer.startswith(("https://", "http://")):
            raise ImproperlyConfigured(f"{where}: issuer must be an http(s) URL.")
        scopes = item.get("scopes") or "openid email profile"
        words = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes]
        if "openid" not in words:
            words.insert(0, "openid")
        providers.append(
            OidcProvider(
                id=item["id"],
                name=str(item["name"]),
                issuer=issuer,
                client_id=str(item["client_id"]),
                client_secret=str(item.get("client_secret", "")),
                scopes=" ".join(words),
            )
        )
    ids = [p.id for p in providers]
    if len(set(ids)) != len(ids):
        raise ImproperlyConfigured("CHAT_OIDC_PROVIDERS: two providers share an id.")
    return providers


def on_off(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"on", "true", "1", "yes"}:
        return True
    if value in {"off", "false", "0", "no"}:
        return False
    raise ImproperlyConfigured(f'{name} must be "on" or "off".')


def second_factor_rule(raw: str) -> str:
    value = raw.strip().lower()
    if value not in SECOND_FACTOR_RULES:
        raise ImproperlyConfigured('CHAT_2FA_REQUIRED must be "none", "staff" or "all".')
    return value
