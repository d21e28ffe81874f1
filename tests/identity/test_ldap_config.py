"""CHAT_LDAP_* parsing (accounts/identity/ldap_config.py): defaults, the settings handed
to django-auth-ldap, and a wrong value stopping the start with a message that names it."""

import ldap
import pytest
from django.core.exceptions import ImproperlyConfigured
from django_auth_ldap.config import ActiveDirectoryGroupType, GroupOfNamesType

from accounts.identity import ldap_config

BASE = {
    "CHAT_LDAP_URL": "ldap://ldap.example.org",
    "CHAT_LDAP_USER_SEARCH_BASE": "ou=people,dc=example,dc=org",
}


def test_unset_url_means_no_directory() -> None:
    assert ldap_config.ldap_config({}) is None
    assert ldap_config.ldap_config({"CHAT_LDAP_URL": "  "}) is None


def test_defaults() -> None:
    config = ldap_config.ldap_config(BASE)
    assert config is not None
    assert config.user_filter == "(uid=%(user)s)"
    assert config.attr_map == {"first_name": "givenName", "last_name": "sn", "email": "mail"}
    assert (config.start_tls, config.staff_group, config.disabled_filter) == (False, "", "")
    assert config.sync_minutes == 60
    settings = ldap_config.auth_ldap_settings(config)
    assert settings["AUTH_LDAP_SERVER_URI"] == "ldap://ldap.example.org"
    assert settings["AUTH_LDAP_USER_SEARCH"].filterstr == "(uid=%(user)s)"
    assert "AUTH_LDAP_USER_FLAGS_BY_GROUP" not in settings  # no group: staff left alone
    assert settings["AUTH_LDAP_CONNECTION_OPTIONS"][ldap.OPT_NETWORK_TIMEOUT] > 0


def test_active_directory_shape() -> None:
    config = ldap_config.ldap_config(
        {
            **BASE,
            "CHAT_LDAP_USER_FILTER": "(sAMAccountName=%(user)s)",
            "CHAT_LDAP_STAFF_GROUP": "CN=Chat Admins,OU=Groups,DC=corp,DC=example",
            "CHAT_LDAP_GROUP_TYPE": "activeDirectory",
            "CHAT_LDAP_DISABLED_FILTER": "(userAccountControl:1.2.840.113556.1.4.803:=2)",
            "CHAT_LDAP_START_TLS": "on",
            "CHAT_LDAP_TLS_CA_FILE": "/etc/ssl/corp-ca.pem",
            "CHAT_LDAP_ATTR_MAP": '{"email": "userPrincipalName"}',
        }
    )
    assert config is not None
    settings = ldap_config.auth_ldap_settings(config)
    assert isinstance(settings["AUTH_LDAP_GROUP_TYPE"], ActiveDirectoryGroupType)
    # The group search base defaults to the staff group's parent.
    assert settings["AUTH_LDAP_GROUP_SEARCH"].base_dn == "OU=Groups,DC=corp,DC=example"
    assert settings["AUTH_LDAP_USER_FLAGS_BY_GROUP"] == {
        "is_staff": "CN=Chat Admins,OU=Groups,DC=corp,DC=example"
    }
    assert settings["AUTH_LDAP_START_TLS"] is True
    options = settings["AUTH_LDAP_CONNECTION_OPTIONS"]
    assert options[ldap.OPT_X_TLS_CACERTFILE] == "/etc/ssl/corp-ca.pem"
    assert settings["AUTH_LDAP_USER_ATTR_MAP"] == {"email": "userPrincipalName"}


def test_group_of_names_is_the_default_group_type() -> None:
    config = ldap_config.ldap_config(
        {**BASE, "CHAT_LDAP_STAFF_GROUP": "cn=staff,ou=groups,dc=example,dc=org"}
    )
    assert config is not None
    settings = ldap_config.auth_ldap_settings(config)
    assert isinstance(settings["AUTH_LDAP_GROUP_TYPE"], GroupOfNamesType)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"CHAT_LDAP_URL": "ldap.example.org"}, "CHAT_LDAP_URL"),
        ({"CHAT_LDAP_USER_SEARCH_BASE": ""}, "CHAT_LDAP_USER_SEARCH_BASE"),
        ({"CHAT_LDAP_USER_FILTER": "(uid=alice)"}, "%(user)s"),
        ({"CHAT_LDAP_USER_FILTER": "uid=%(user)s"}, "CHAT_LDAP_USER_FILTER"),
        ({"CHAT_LDAP_ATTR_MAP": "{not json"}, "CHAT_LDAP_ATTR_MAP"),
        ({"CHAT_LDAP_ATTR_MAP": '{"is_superuser": "x"}'}, "is_superuser"),
        ({"CHAT_LDAP_GROUP_TYPE": "magic"}, "CHAT_LDAP_GROUP_TYPE"),
        ({"CHAT_LDAP_STAFF_GROUP": "staff"}, "CHAT_LDAP_STAFF_GROUP"),
        ({"CHAT_LDAP_SYNC_MINUTES": "soon"}, "CHAT_LDAP_SYNC_MINUTES"),
        ({"CHAT_LDAP_START_TLS": "maybe"}, "CHAT_LDAP_START_TLS"),
        (
            {"CHAT_LDAP_URL": "ldaps://ldap.example.org", "CHAT_LDAP_START_TLS": "on"},
            "ldaps://",
        ),
        ({"CHAT_LDAP_DISABLED_FILTER": "disabled=1"}, "CHAT_LDAP_DISABLED_FILTER"),
    ],
)
def test_a_wrong_value_stops_the_start_naming_it(extra: dict[str, str], named: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=named.replace("(", r"\(").replace(")", r"\)")):
        ldap_config.ldap_config({**BASE, **extra})


@pytest.mark.parametrize(
    ("backend", "method"),
    [
        ("accounts.identity.ldap_backend.ChatLDAPBackend", "ldap"),
        ("django_auth_ldap.backend.LDAPBackend", "ldap"),
        ("django.contrib.auth.backends.ModelBackend", "password"),
        ("axes.backends.AxesStandaloneBackend", "password"),
    ],
)
def test_method_for_backend(backend: str, method: str) -> None:
    assert ldap_config.method_for_backend(backend) == method


def test_a_missing_ldap_extra_stops_the_start_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    config = ldap_config.ldap_config(BASE)
    assert config is not None
    monkeypatch.setitem(sys.modules, "ldap", None)  # as if python-ldap were not installed
    with pytest.raises(ImproperlyConfigured, match=r"the `ldap` extra is not installed"):
        ldap_config.auth_ldap_settings(config)
