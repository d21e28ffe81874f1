"""The rate limits from sync code (the HTTP API's views): the same token buckets as the
WebSocket's (chat/limits/policy.py), so both transports draw from one budget. With Redis: the
same keys and Lua script through a sync client (no event loop needed); without it: the
process's own stores, on an event loop."""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from chat.limits.policy import RateLimited, current
from chat.limits.stores import BUCKET_TAKE, MemoryStore
from chat.ops import observability
from chat.ops.redis_client import redis_client_sync

logger = logging.getLogger(__name__)

_scripts: dict[tuple[str, str], Any] = {}


def _bucket_take(bucket: str, burst: int, rate: float) -> float:
    """Take a token from `bucket` in Redis: 0 if taken, else the seconds to wait."""
    key = (settings.REDIS_URL, settings.CHAT_LAYER_PREFIX)
    script = _scripts.get(key)
    if script is None:
        client = redis_client_sync(settings.REDIS_URL)
        script = _scripts[key] = client.register_script(BUCKET_TAKE)
    taken, wait = script(
        keys=[f"{settings.CHAT_LAYER_PREFIX}:limits:rate:{bucket}"], args=[burst, repr(float(rate))]
    )
    return 0.0 if int(taken) == 1 else float(wait)


def message_check_sync(user_id: int) -> None:
    """Guard.message_check for sync callers: the user's message bucket, or RateLimited.
    Without Redis it runs on the server's event loop (under daphne the one the consumers
    use). Flood closing is a socket matter and does not apply here."""
    burst = settings.CHAT_MESSAGE_BURST
    if burst <= 0:
        return
    if not settings.REDIS_URL:
        async_to_sync(_message_check_current)(user_id)
        return
    try:
        wait = _bucket_take(f"user:{user_id}", burst, settings.CHAT_MESSAGE_RATE_PER_SECOND)
    except Exception as error:
        logger.warning("message rate limit unavailable; allowing (%r)", error)
        return
    if wait > 0:
        observability.rate_limited("message")
        raise RateLimited(wait)


async def _message_check_current(user_id: int) -> None:
    try:
        await current().message_check(user_id)
    except RateLimited as error:
        raise RateLimited(error.retry_after) from None  # no flood close over HTTP


class SearchRateLimited(RateLimited):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.detail = f"Too many searches; try again in {self.retry_after:g} s."


class PeopleRateLimited(RateLimited):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.detail = f"Too many people searches; try again in {self.retry_after:g} s."


def search_check_sync(user_id: int) -> None:
    """A search's token from the user's search bucket (CHAT_SEARCH_BURST at once,
    refilled at CHAT_SEARCH_RATE_PER_SECOND), or SearchRateLimited. A search costs the
    database more than a send: its own budget."""
    _per_user_check(
        "search",
        user_id,
        settings.CHAT_SEARCH_BURST,
        settings.CHAT_SEARCH_RATE_PER_SECOND,
        SearchRateLimited,
    )


def people_check_sync(user_id: int) -> None:
    """A people search's token (GET /api/users/?q=, the DM picker as one types) from the
    user's own bucket: CHAT_PEOPLE_BURST at once, refilled at
    CHAT_PEOPLE_RATE_PER_SECOND, or PeopleRateLimited. Its own budget, apart from
    message search's: a picker asks once per pause in typing, and must not starve the
    search box."""
    _per_user_check(
        "people",
        user_id,
        settings.CHAT_PEOPLE_BURST,
        settings.CHAT_PEOPLE_RATE_PER_SECOND,
        PeopleRateLimited,
    )


class HookRateLimited(RateLimited):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.detail = f"Too many posts to this hook; try again in {self.retry_after:g} s."


def hook_check_sync(hook_id: int) -> None:
    """A post's token from an incoming webhook's own bucket (CHAT_WEBHOOK_BURST at once,
    refilled at CHAT_WEBHOOK_RATE_PER_SECOND), or HookRateLimited. Per hook, not per bot
    or address: a noisy alert source slows only itself, on every process."""
    _per_user_check(
        "hook",
        hook_id,
        settings.CHAT_WEBHOOK_BURST,
        settings.CHAT_WEBHOOK_RATE_PER_SECOND,
        HookRateLimited,
    )


def _per_user_check(
    kind: str, user_id: int, burst: int, rate: float, refused: type[RateLimited]
) -> None:
    """A token from the user's `kind` bucket (Redis's, or this process's without it); a
    limit store that fails lets the request through, logged. burst <= 0: no limit."""
    if burst <= 0:
        return
    bucket = f"{kind}:{user_id}"
    try:
        if settings.REDIS_URL:
            wait = _bucket_take(bucket, burst, rate)
        else:
            wait = async_to_sync(_memory_take)(bucket, burst, rate)
    except Exception as error:
        logger.warning("%s rate limit unavailable; allowing (%r)", kind, error)
        return
    if wait > 0:
        observability.rate_limited(kind)
        raise refused(wait)


_memory: list[MemoryStore] = []  # without Redis: one bucket store per process


async def _memory_take(bucket: str, burst: int, rate: float) -> float:
    # Not current()'s guard: that one is per event loop, and each async_to_sync call
    # from a plain sync request may run on a loop of its own.
    if not _memory:
        _memory.append(MemoryStore())
    return await _memory[0].take_token(bucket, burst, rate)
