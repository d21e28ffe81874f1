"""CHAT_PASSWORD_LOGIN=off: when the company's identity provider is the only way in,
passwords stop working for everyone but the break-glass staff accounts named by
CHAT_BREAK_GLASS_USERS (for when the provider is down). Enforced where every password is
checked, as an authentication backend, so the log-in form, the admin's and any other
caller of authenticate() obey it; the templates only hide what would not work."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def break_glass_allowed(username: str) -> bool:
    """Whether this username may still log in with a password when password log-in is
    off: named by CHAT_BREAK_GLASS_USERS and an active staff account."""
    return (
        username in settings.CHAT_BREAK_GLASS_USERS
        and User.objects.filter(username=username, is_staff=True, is_active=True).exists()
    )


def password_login_allowed(username: str) -> bool:
    return settings.CHAT_PASSWORD_LOGIN or break_glass_allowed(username)


class PasswordLoginPolicyBackend:
    """Only says no, like accounts.backends.NoBotsBackend: placed before the backends
    that check passwords (ModelBackend, LDAP). No get_user: it never logs anyone in."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        # PermissionDenied stops Django's backend loop (the failure is counted by axes).
        if username is not None and password is not None and not password_login_allowed(username):
            raise PermissionDenied("Password log-in is off.")
        return None
