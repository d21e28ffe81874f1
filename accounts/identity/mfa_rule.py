"""Who must pass a second factor (CHAT_2FA_REQUIRED) and whether a session did. Pure:
settings and the session's already-loaded data only, no query, so the socket's opening
check (chat/consumers/opening.py) and the page gate (mfa_gate.py) can ask at no cost."""

from collections.abc import Mapping
from typing import Any

from django.conf import settings

# Set in the session by login_flow once the second factor passed (ours, or the SSO
# provider's asserted one); a session without it never opens a socket if required.
PASSED_KEY = "identity.second_factor"


def required(user: Any) -> bool:
    """Does CHAT_2FA_REQUIRED demand a second factor of this (authenticated) user?"""
    rule = settings.CHAT_2FA_REQUIRED
    if rule == "all":
        return True
    return rule == "staff" and bool(user.is_staff or user.is_superuser)


def session_passed(session: Mapping[str, Any] | None) -> bool:
    return bool(session is not None and session.get(PASSED_KEY))


def session_allowed(user: Any, session: Mapping[str, Any] | None) -> bool:
    """May this logged-in session use the chat: not required, or required and passed."""
    return not required(user) or session_passed(session)
