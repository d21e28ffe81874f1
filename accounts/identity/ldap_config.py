"""LDAP / Active Directory settings read from the environment (chatsite/settings.py calls
these when CHAT_LDAP_URL is set). ldap_config() is pure: a wrong value stops the start
with a clear error. auth_ldap_settings() turns it into django-auth-ldap's AUTH_LDAP_*
settings; only it imports python-ldap, which is installed with the `ldap` extra."""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from accounts.identity import config as identity_config

# The backend's dotted path (AUTHENTICATION_BACKENDS, and the session's record of it).
BACKEND = "accounts.identity.ldap_backend.ChatLDAPBackend"
# Accounts that signed in through the directory are members of this Django group (visible
# in the admin): ldap_sync checks exactly those, so local accounts are never touched.
DIRECTORY_GROUP = "ldap"
# A log-in or a sync never waits on a silent directory longer than these.
NETWORK_TIMEOUT_SECONDS = 5
OPERATION_TIMEOUT_SECONDS = 10

# The User fields the directory may fill (CHAT_LDAP_ATTR_MAP's keys).
MAPPABLE_FIELDS = ("first_name", "last_name", "email")
DEFAULT_ATTR_MAP = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
# CHAT_LDAP_GROUP_TYPE -> django-auth-ldap's group type class.
GROUP_TYPES = {
    "groupOfNames": "GroupOfNamesType",
    "nestedGroupOfNames": "NestedGroupOfNamesType",
    "groupOfUniqueNames": "GroupOfUniqueNamesType",
    "posixGroup": "PosixGroupType",
    "activeDirectory": "ActiveDirectoryGroupType",
    "nestedActiveDirectory": "NestedActiveDirectoryGroupType",
}
_URL = re.compile(r"^ldaps?://[^\s]+$")


@dataclass(frozen=True)
class LdapConfig:
    url: str
    bind_dn: str
    bind_password: str
    user_search_base: str
    user_filter: str
    attr_map: dict[str, str]
    start_tls: bool
    tls_ca_file: str
    staff_group: str  # a group's DN; empty: staff is never set from the directory
    group_search_base: str
    group_type: str
    disabled_filter: str  # matches the entries of disabled accounts; empty: none are
    sync_minutes: int  # the periodic ldap_sync; 0: only by hand


def _filter(name: str, raw: str) -> str:
    value = raw.strip()
    if value and not (value.startswith("(") and value.endswith(")")):
        raise ImproperlyConfigured(f"{name} must be an LDAP filter in parentheses: {value!r}.")
    return value


def _attr_map(raw: str) -> dict[str, str]:
    if not raw.strip():
        return dict(DEFAULT_ATTR_MAP)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"CHAT_LDAP_ATTR_MAP is not JSON: {error}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise ImproperlyConfigured(
            'CHAT_LDAP_ATTR_MAP must be a JSON object like {"email": "mail"}.'
        )
    unknown = sorted(set(value) - set(MAPPABLE_FIELDS))
    if unknown:
        raise ImproperlyConfigured(
            f"CHAT_LDAP_ATTR_MAP: {', '.join(unknown)} cannot be set from the directory "
            f"(only {', '.join(MAPPABLE_FIELDS)})."
        )
    return value


def _parent_dn(dn: str) -> str:
    # The first unescaped comma: "cn=staff,ou=groups,dc=example,dc=org" -> "ou=groups,...".
    match = re.search(r"(?<!\\),", dn)
    return dn[match.end() :].strip() if match else ""


def ldap_config(environ: Mapping[str, str]) -> LdapConfig | None:
    """The directory settings, or None when CHAT_LDAP_URL is unset (no LDAP log-in)."""
    url = environ.get("CHAT_LDAP_URL", "").strip()
    if not url:
        return None
    if not all(_URL.match(part) for part in url.split()):
        raise ImproperlyConfigured("CHAT_LDAP_URL must be ldap://host[:port] or ldaps://….")
    base = environ.get("CHAT_LDAP_USER_SEARCH_BASE", "").strip()
    if not base:
        raise ImproperlyConfigured(
            "CHAT_LDAP_URL is set: CHAT_LDAP_USER_SEARCH_BASE (e.g. ou=people,dc=example,dc=org) "
            "is required."
        )
    user_filter = _filter(
        "CHAT_LDAP_USER_FILTER", environ.get("CHAT_LDAP_USER_FILTER", "") or "(uid=%(user)s)"
    )
    if "%(user)s" not in user_filter:
        raise ImproperlyConfigured("CHAT_LDAP_USER_FILTER must contain %(user)s.")
    staff_group = environ.get("CHAT_LDAP_STAFF_GROUP", "").strip()
    group_type = environ.get("CHAT_LDAP_GROUP_TYPE", "").strip() or "groupOfNames"
    if group_type not in GROUP_TYPES:
        raise ImproperlyConfigured(f"CHAT_LDAP_GROUP_TYPE must be one of {', '.join(GROUP_TYPES)}.")
    group_base = environ.get("CHAT_LDAP_GROUP_SEARCH_BASE", "").strip() or _parent_dn(staff_group)
    if staff_group and not group_base:
        raise ImproperlyConfigured("CHAT_LDAP_STAFF_GROUP must be a group's DN.")
    raw_minutes = environ.get("CHAT_LDAP_SYNC_MINUTES", "").strip() or "60"
    if not raw_minutes.isdigit():
        raise ImproperlyConfigured("CHAT_LDAP_SYNC_MINUTES must be whole minutes (0: off).")
    start_tls = identity_config.on_off(
        "CHAT_LDAP_START_TLS", environ.get("CHAT_LDAP_START_TLS", "") or "off"
    )
    if start_tls and url.startswith("ldaps://"):
        raise ImproperlyConfigured("CHAT_LDAP_START_TLS is for ldap:// URLs (ldaps:// is TLS).")
    return LdapConfig(
        url=url,
        bind_dn=environ.get("CHAT_LDAP_BIND_DN", "").strip(),
        bind_password=environ.get("CHAT_LDAP_BIND_PASSWORD", ""),
        user_search_base=base,
        user_filter=user_filter,
        attr_map=_attr_map(environ.get("CHAT_LDAP_ATTR_MAP", "")),
        start_tls=start_tls,
        tls_ca_file=environ.get("CHAT_LDAP_TLS_CA_FILE", "").strip(),
        staff_group=staff_group,
        group_search_base=group_base,
        group_type=group_type,
        disabled_filter=_filter(
            "CHAT_LDAP_DISABLED_FILTER", environ.get("CHAT_LDAP_DISABLED_FILTER", "")
        ),
        sync_minutes=int(raw_minutes),
    )


def auth_ldap_settings(config: LdapConfig) -> dict[str, Any]:
    """django-auth-ldap's settings (AUTH_LDAP_*) for `config`."""
    try:
        import ldap
        from django_auth_ldap import config as ldap_lib
    except ImportError as error:
        raise ImproperlyConfigured(
            f"CHAT_LDAP_URL is set but the `ldap` extra is not installed ({error}): "
            "pip install -e '.[ldap]' (docs/deployment.md, LDAP / Active Directory)."
        ) from None

    options: dict[int, Any] = {
        ldap.OPT_REFERRALS: 0,  # Active Directory's referrals would need other credentials
        ldap.OPT_NETWORK_TIMEOUT: NETWORK_TIMEOUT_SECONDS,
        ldap.OPT_TIMEOUT: OPERATION_TIMEOUT_SECONDS,
    }
    if config.tls_ca_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = config.tls_ca_file
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: applies the TLS options above
    result: dict[str, Any] = {
        "AUTH_LDAP_SERVER_URI": config.url,
        "AUTH_LDAP_BIND_DN": config.bind_dn,
        "AUTH_LDAP_BIND_PASSWORD": config.bind_password,
        "AUTH_LDAP_START_TLS": config.start_tls,
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_USER_SEARCH": ldap_lib.LDAPSearch(
            config.user_search_base, ldap.SCOPE_SUBTREE, config.user_filter
        ),
        "AUTH_LDAP_USER_ATTR_MAP": dict(config.attr_map),
        # Name, address and staff are refreshed from the directory at every log-in.
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
    }
    if config.staff_group:
        group_type = getattr(ldap_lib, GROUP_TYPES[config.group_type])
        result["AUTH_LDAP_GROUP_SEARCH"] = ldap_lib.LDAPSearch(
            config.group_search_base, ldap.SCOPE_SUBTREE, "(objectClass=*)"
        )
        result["AUTH_LDAP_GROUP_TYPE"] = group_type()
        result["AUTH_LDAP_USER_FLAGS_BY_GROUP"] = {"is_staff": config.staff_group}
        # What directory staff may do in the admin: the permissions of the Django groups
        # named as their directory groups (e.g. "chat-staff"), looked up on admin pages.
        result["AUTH_LDAP_FIND_GROUP_PERMS"] = True
    return result


def method_for_backend(path: str) -> str:
    """How a password-form log-in signed in (SessionRecord.method), from the dotted path
    of the backend that authenticated it (`user.backend`): "ldap" or "password"."""
    return "ldap" if path.endswith("LDAPBackend") else "password"
