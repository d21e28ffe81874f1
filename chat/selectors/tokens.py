"""API tokens: listed for their owner, looked up by digest."""

from typing import TypedDict

from django.contrib.auth.models import User

from accounts.selectors import ProfileOut as ProfileOut  # re-exported: events, consumers
from accounts.selectors import user_profile as user_profile  # re-exported: hello.user
from chat.models import ApiToken


class TokenOut(TypedDict):
    id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None


def token_list(*, user: User) -> list[TokenOut]:
    return [
        {
            "id": token.pk,
            "name": token.name,
            "prefix": token.prefix,
            "created_at": token.created_at.isoformat(),
            "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        }
        for token in ApiToken.objects.filter(user=user)
    ]


def token_user(*, digest: str) -> tuple[ApiToken, User] | None:
    """The token with this SHA-256 and its (active) user, for authentication."""
    token = (
        ApiToken.objects.select_related("user").filter(digest=digest, user__is_active=True).first()
    )
    return (token, token.user) if token is not None else None
