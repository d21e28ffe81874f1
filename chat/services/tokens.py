"""Personal API tokens: created, revoked, touched. Only digests are stored."""

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat.errors import ChatError
from chat.models import (
    ApiToken,
)
from chat.protocol.codes import ErrorCode
from chat.services.moderation import audit_record


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown to the user once; only its digest is stored


TOKEN_PREFIX = "chat_"  # noqa: S105 - a marker for secret scanners, not a secret


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(*, user: User, name: str, actor: User | None = None) -> NewToken:
    """A personal API token for `user`, made by `actor` (default: the user; staff in the
    admin, the owner for a bot). The secret is random (256 bits), so a plain SHA-256
    suffices to store it (no salt or slow hash needed, unlike passwords). Audited as the
    security event token.create (the name accounts/identity/audit.py registers: chat
    does not import accounts)."""
    name = name.strip()[:80] or "token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        digest=token_digest(secret),
    )
    audit_record(
        actor=actor or user,
        action="token.create",
        target=str(token),
        target_user=user,
        security=True,
    )
    return NewToken(token=token, secret=secret)


@transaction.atomic
def token_revoke(*, token_id: int, user: User, actor: User | None = None) -> None:
    """Revoke one of the user's tokens, by `actor` (default: the user; staff revoke any
    in the admin). Audited as token.revoke."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise ChatError(ErrorCode.NOT_FOUND, "No such token of yours.")
    described = str(token)
    token.delete()
    audit_record(
        actor=actor or user,
        action="token.revoke",
        target=described,
        target_user=user,
        security=True,
    )


def token_used(*, token: ApiToken) -> None:
    """Record the token's use, at most once a minute (not a write per request)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
