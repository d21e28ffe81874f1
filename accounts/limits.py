"""Who is asking (the client address, as the WebSocket limits see it) and how often an
address may present an invitation token that is not valid. Transport-side policy: no
database.

Guesses are counted in a moving window from the `limits` library, as chat/limits/policy.py
counts connection attempts: in Redis when REDIS_URL is set (every process shares the
count), in memory otherwise (one process is all there is). If Redis fails the check lets
the request through (logged): a 256-bit token cannot be guessed anyway, the limit only
keeps the noise down.
"""

import functools
import logging

from django.conf import settings
from django.http import HttpRequest
from limits import RateLimitItemPerHour
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from chat.limits import policy as chat_limits
from chat.ops.redis_client import redis_client_sync

logger = logging.getLogger(__name__)


def request_ip(request: HttpRequest) -> str | None:
    """The client address of an HTTP request, by the WebSocket's rule (the peer, or the
    last X-Forwarded-For hop when the peer is one of CHAT_TRUSTED_PROXIES). Also
    django-axes' AXES_CLIENT_IP_CALLABLE."""
    scope = getattr(request, "scope", None)  # under daphne: the ASGI scope itself
    if isinstance(scope, dict):
        return chat_limits.client_ip(scope)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    headers = [(b"x-forwarded-for", forwarded.encode("latin-1"))] if forwarded else []
    return chat_limits.client_ip(
        {"client": [request.META.get("REMOTE_ADDR", ""), 0], "headers": headers}
    )


@functools.cache
def _limiter(redis_url: str) -> MovingWindowRateLimiter:
    storage: Storage
    if redis_url:
        # The app's pool (chat/ops/redis_client.py); 2 s: an invitation page waits no longer
        # than that on a dead Redis for a limit that only keeps the noise down.
        pool = redis_client_sync(redis_url, timeout=2).connection_pool
        storage = RedisStorage("redis://", connection_pool=pool)
    else:
        storage = MemoryStorage()
    return MovingWindowRateLimiter(storage)


def _item() -> RateLimitItemPerHour:
    return RateLimitItemPerHour(settings.CHAT_INVITE_GUESSES_PER_HOUR)


def _key(request: HttpRequest) -> str:
    ip = request_ip(request)
    return chat_limits.address_key(ip) if ip else "unknown"


def invitation_guess_allowed(request: HttpRequest) -> bool:
    """May this address present another invitation token (it has not had too many
    refused within the hour)?"""
    if settings.CHAT_INVITE_GUESSES_PER_HOUR <= 0:
        return True
    try:
        return _limiter(settings.REDIS_URL).test(
            _item(), settings.CHAT_LAYER_PREFIX, "invite-guess", _key(request)
        )
    except Exception as error:  # Redis down: let it through, as the chat's limits do
        logger.warning("invitation limit unavailable; allowing (%s)", type(error).__name__)
        return True


def invitation_guess_failed(request: HttpRequest) -> None:
    """Count a refused token (unknown, expired, used up or revoked) against the address."""
    if settings.CHAT_INVITE_GUESSES_PER_HOUR <= 0:
        return
    try:
        _limiter(settings.REDIS_URL).hit(
            _item(), settings.CHAT_LAYER_PREFIX, "invite-guess", _key(request)
        )
    except Exception as error:
        logger.warning("invitation limit unavailable (%s)", type(error).__name__)


def invitation_guesses_clear(request: HttpRequest) -> None:
    """Forget the address's refused tokens (tests; staff helping someone who mistyped)."""
    _limiter(settings.REDIS_URL).clear(
        _item(), settings.CHAT_LAYER_PREFIX, "invite-guess", _key(request)
    )
