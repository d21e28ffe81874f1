"""An authentication backend that only says no: a bot's username never logs in to the
pages or the admin, whatever its password (bots use API tokens, chat/api/auth.py). It
never authenticates anyone, so no session ever names it."""

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.models import Profile


class NoBotsBackend(BaseBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        # PermissionDenied stops Django's backend loop: ModelBackend is not asked, so an
        # admin-set password on a bot is still refused (and counted as a failure).
        if username and Profile.objects.filter(user__username=username, is_bot=True).exists():
            raise PermissionDenied("Bots do not log in.")
        return None
