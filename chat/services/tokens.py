"""Personal API tokens: created, revoked, touched. Only digests are stored."""

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.utils import timezone

from chat.errors import ChatError
from chat.models import (
    ApiToken,
)
from chat.protocol.codes import ErrorCode


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown to the user once; only its digest is stored


TOKEN_PREFIX = "chat_"  # noqa: S105 - a marker for secret scanners, not a secret


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: User, name: str) -> NewToken:
    """A personal API token for `user`. The secret is random (256 bits), so a plain
    SHA-256 suffices to store it (no salt or slow hash needed, unlike passwords)."""
    name = name.strip()[:80] or "token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        digest=token_digest(secret),
    )
    return NewToken(token=token, secret=secret)


def token_revoke(*, token_id: int, user: User) -> None:
    """Revoke one of the user's tokens (staff revoke any in the admin)."""
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    if not deleted:
        raise ChatError(ErrorCode.NOT_FOUND, "No such token of yours.")


def token_used(*, token: ApiToken) -> None:
    """Record the token's use, at most once a minute (not a write per request)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
