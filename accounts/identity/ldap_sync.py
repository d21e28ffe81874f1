"""ldap_sync: the directory's verdict on the accounts that signed in through it (members
of the Django group "ldap"). An account gone from the directory, or whose entry is
disabled, is deactivated (its sockets close on every process, as every deactivation's
do); the others are refreshed (name, email, staff from CHAT_LDAP_STAFF_GROUP).
Run by `manage.py ldap_sync` and the periodic job (ldap_jobs.py). Needs python-ldap."""

import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from accounts.identity import audit, ldap_directory
from accounts.identity.ldap_backend import ChatLDAPBackend
from accounts.identity.ldap_config import DIRECTORY_GROUP

logger = logging.getLogger(__name__)

REASON = "ldap_sync"


class SyncRefused(Exception):
    """Nothing was changed: the directory's answer looks wrong (see the message)."""


@dataclass
class SyncReport:
    checked: int = 0
    deactivated: list[str] = field(default_factory=list)  # "<username> (gone|disabled)"
    staff_granted: list[str] = field(default_factory=list)
    staff_removed: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)  # several entries: left alone


def _verdicts(
    connection: object, search: Any, users: list[User]
) -> tuple[dict[int, str], list[str]]:
    """{user id: "gone" | "disabled"} for the accounts to deactivate, and the usernames
    that match several entries. Raises ldap.LDAPError on any failure."""
    verdicts: dict[int, str] = {}
    ambiguous: list[str] = []
    for user in users:
        # LDAPSearch.execute escapes the username and drops AD's referral entries.
        found = search.execute(connection, {"user": user.get_username()})
        if not found:
            verdicts[user.pk] = "gone"
        elif len(found) > 1:
            ambiguous.append(user.get_username())
        elif ldap_directory.entry_disabled(connection, found[0][0]):
            verdicts[user.pk] = "disabled"
    return verdicts, ambiguous


def ldap_sync(*, dry_run: bool = False) -> SyncReport:
    """Check every active directory account against the directory (see the module).
    Raises ldap.LDAPError when the directory cannot be asked, and SyncRefused when it
    finds none of several accounts (a wrong search base looks like everyone leaving):
    in both cases nothing changes."""
    users = list(User.objects.filter(groups__name=DIRECTORY_GROUP, is_active=True).order_by("pk"))
    users = [u for u in users if not ldap_directory.is_break_glass(u.get_username())]
    report = SyncReport(checked=len(users))
    if not users:
        return report
    backend = ChatLDAPBackend()
    connection = ldap_directory.connect(backend.settings)
    try:
        verdicts, report.ambiguous = _verdicts(connection, backend.settings.USER_SEARCH, users)
    finally:
        connection.unbind_s()
    gone = [pk for pk, verdict in verdicts.items() if verdict == "gone"]
    if len(users) > 1 and len(gone) == len(users):
        raise SyncRefused(
            f"none of the {len(users)} directory accounts was found: check "
            "CHAT_LDAP_USER_SEARCH_BASE and CHAT_LDAP_USER_FILTER"
        )
    for user in users:
        verdict = verdicts.get(user.pk)
        if verdict is not None:
            if dry_run or _deactivate(user.pk):
                report.deactivated.append(f"{user.get_username()} ({verdict})")
        elif not dry_run and user.get_username() not in report.ambiguous:
            _refresh(backend, user, report)
    if report.deactivated:
        logger.info("ldap_sync: deactivated %s", ", ".join(report.deactivated))
    return report


@transaction.atomic
def _deactivate(user_id: int) -> bool:
    # Locked and read again: two syncs at once deactivate (and audit) an account once.
    user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    user.is_active = False
    # The deactivation every path shares (chat/signals.py): the account's sockets close
    # on every process once this commits.
    user.save(update_fields=["is_active"])
    audit.record(audit.SecurityEvent.USER_DEACTIVATE, actor=None, target=user, reason=REASON)
    return True


def _refresh(backend: ChatLDAPBackend, user: User, report: SyncReport) -> None:
    # django-auth-ldap fills and saves the account as at a log-in (without a password);
    # on a directory error it answers None and the account is left as it was.
    was_staff = user.is_staff
    filled: User | None = backend.populate_user(user.get_username())
    if filled is None:
        return
    ldap_directory.account_refreshed(filled, was_staff=was_staff, reason=REASON)
    if filled.is_staff != was_staff:
        (report.staff_granted if filled.is_staff else report.staff_removed).append(
            filled.get_username()
        )
