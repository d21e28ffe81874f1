"""The LDAP / Active Directory log-in: django-auth-ldap's backend with this site's rules.
A break-glass account (CHAT_BREAK_GLASS_USERS) never signs in through the directory, a
disabled entry (CHAT_LDAP_DISABLED_FILTER) or a deactivated account is refused, and an
account that signed in is marked as the directory's (ldap_sync checks those) with its
staff flag's changes audited. Only loaded when CHAT_LDAP_URL is set (python-ldap)."""

import logging
from typing import Any

import ldap
from django.contrib.auth.models import User
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend

from accounts.identity import ldap_directory

logger = logging.getLogger(__name__)


class ChatLDAPBackend(LDAPBackend):  # type: ignore[misc]  # django-auth-ldap is untyped
    # Its name ends in "LDAPBackend": ldap_config.method_for_backend reads the session's
    # backend path to record that the session signed in through the directory.

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username and ldap_directory.is_break_glass(username):
            return None  # the local emergency account works when the directory does not
        user: User | None = super().authenticate(request, username, password, **kwargs)
        return user

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> User | None:
        # Before the password bind: a disabled entry is refused without trying it (Active
        # Directory refuses the bind itself; OpenLDAP and others may not).
        try:
            disabled = ldap_user.dn is not None and ldap_directory.entry_disabled(
                ldap_user.connection, ldap_user.dn
            )
        except ldap.LDAPError as error:
            logger.warning("ldap: could not check %s: %s", ldap_user.dn, error)
            return None
        if disabled:
            logger.info("ldap: %s is disabled in the directory", ldap_user.dn)
            return None
        user: User | None = super().authenticate_ldap_user(ldap_user, password)
        if user is not None:
            ldap_directory.account_refreshed(
                user, was_staff=getattr(ldap_user, "chat_was_staff", False), reason="ldap_login"
            )
        return user

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[User, bool]:
        user, built = super().get_or_build_user(username, ldap_user)
        if not built and not user.is_active:
            # Deactivated here (by staff or ldap_sync): refused, and left as it is.
            raise ldap_user.AuthenticationFailed("the account is deactivated")
        ldap_user.chat_was_staff = (not built) and user.is_staff
        return user, built

    def get_user(self, user_id: int) -> User | None:
        # As ModelBackend: a session of a deactivated account no longer logs anyone in.
        user: User | None = super().get_user(user_id)
        return user if user is not None and user.is_active else None
