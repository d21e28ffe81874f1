"""What the log-in and ldap_sync share about the directory: which accounts are the
directory's, whether an entry is disabled, a bound connection that raises on every
error, and the audited refresh of an account's staff flag. Needs python-ldap."""

from typing import Any

import ldap
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction

from accounts.identity import audit
from accounts.identity.ldap_config import DIRECTORY_GROUP


def is_break_glass(username: str) -> bool:
    wanted = username.strip().lower()
    return any(wanted == name.strip().lower() for name in settings.CHAT_BREAK_GLASS_USERS)


def entry_disabled(connection: Any, dn: str) -> bool:
    """Whether the entry at `dn` matches CHAT_LDAP_DISABLED_FILTER (never, unset)."""
    config = settings.CHAT_LDAP
    if config is None or not config.disabled_filter:
        return False
    found = connection.search_s(dn, ldap.SCOPE_BASE, config.disabled_filter, ["1.1"])
    return any(entry_dn is not None for entry_dn, _ in found)


def connect(options: Any) -> Any:
    """A connection bound with CHAT_LDAP_BIND_DN, made as a log-in's is (`options`: the
    backend's settings: URL, StartTLS, TLS and timeout options). Raises ldap.LDAPError:
    a directory that cannot be asked must never look empty."""
    connection = ldap.initialize(options.SERVER_URI, bytes_mode=False)
    for option, value in options.CONNECTION_OPTIONS.items():
        connection.set_option(option, value)
    if options.START_TLS:
        connection.start_tls_s()
    connection.simple_bind_s(options.BIND_DN, options.BIND_PASSWORD)
    return connection


def directory_group() -> Group:
    group, _ = Group.objects.get_or_create(name=DIRECTORY_GROUP)
    return group


@transaction.atomic
def account_refreshed(user: User, *, was_staff: bool, reason: str) -> None:
    """The directory has just filled `user` (saved): mark it as the directory's and audit
    a change of its staff flag (CHAT_LDAP_STAFF_GROUP membership; actor: the directory)."""
    user.groups.add(directory_group())
    if user.is_staff == was_staff:
        return
    event = audit.SecurityEvent.STAFF_GRANT if user.is_staff else audit.SecurityEvent.STAFF_REMOVE
    audit.record(event, actor=None, target=user, reason=reason)
