"""The page gate of CHAT_2FA_REQUIRED: a logged-in session of a user the rule requires
a second factor of, that has not passed one, reaches only the second-factor pages and
log-out (the admin included). New log-ins never get here unpassed (login_flow holds
them pending); this catches sessions that began before the rule applied.

Costs nothing for a passed or anonymous session and under CHAT_2FA_REQUIRED=none: the
session data is read anyway, the user is loaded only when the rule may apply."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.identity import mfa, mfa_rule

_OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/accounts/login/", "/static/")


class SecondFactorGate:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.CHAT_2FA_REQUIRED != "none"
            and not mfa_rule.session_passed(request.session)
            and not request.path.startswith(_OPEN_PREFIXES)
        ):
            user = request.user
            if isinstance(user, User) and mfa_rule.required(user):
                step = "identity:mfa_verify" if mfa.enrolled(user) else "identity:mfa_enrol"
                return redirect(step)
        return self.get_response(request)
