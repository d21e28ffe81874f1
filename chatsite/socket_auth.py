"""The chat sockets' cookies, session and user: channels' AuthMiddlewareStack without
its database call per connect. The user is resolved by the consumer's first database
call instead (chat/consumers/opening.py), with the rooms it reads anyway: one thread hop
and its connection checks fewer for every connect."""

from typing import Any

from channels.auth import UserLazyObject
from channels.sessions import CookieMiddleware, SessionMiddleware


class DeferredUser(UserLazyObject):  # type: ignore[misc]  # channels is untyped
    """scope["user"] until the consumer resolves it (its `_wrapped` set from the
    session, as channels' AuthMiddleware would); read before that (a refusal logged
    before the first database call), it is anonymous, never an error."""

    def _setup(self) -> None:
        from django.contrib.auth.models import AnonymousUser

        self._wrapped = AnonymousUser()


class DeferredAuthMiddleware:
    """Puts a DeferredUser in the scope (unless a user is there already, as in tests)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if "user" not in scope:
            scope = {**scope, "user": DeferredUser()}
        return await self.inner(scope, receive, send)


def SocketAuthStack(inner: Any) -> Any:  # named like channels' AuthMiddlewareStack
    return CookieMiddleware(SessionMiddleware(DeferredAuthMiddleware(inner)))
