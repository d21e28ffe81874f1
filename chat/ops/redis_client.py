"""The one way the app opens a Redis client (presence, limits, their sync readers, the
readiness probe): the same pool limits and timeouts as the channel layer's, so a dead
Redis is noticed quickly, and the same topology (chatsite/redis_topology.py): under
Sentinel, REDIS_URL's clients follow the current primary. Opens no connection itself: a
client connects on first use."""

import functools
from typing import Any

import redis
from django.conf import settings
from redis import asyncio as aioredis

from chatsite import redis_topology

# How long a command waits for a free pooled connection before failing.
POOL_WAIT_SECONDS = 5
# Connect and read timeout, the channel layer's (settings.py): a dead Redis fails a call
# in seconds instead of hanging it.
SOCKET_TIMEOUT_SECONDS = 5.0
HEALTH_CHECK_SECONDS = 15


def redis_client(url: str, *, timeout: float = SOCKET_TIMEOUT_SECONDS) -> "aioredis.Redis":
    """An asyncio client with a pool of its own. An asyncio connection belongs to the
    event loop it was made on, so callers keep one per loop (a store) or per use (a
    probe, with a shorter `timeout`); `aclose()` closes its pool too."""
    # A blocking pool: when thousands of sockets close at once (a deploy, a network
    # blip), their presence and cap updates queue for a connection instead of failing
    # with MaxConnectionsError (which left users shown online until the sweep).
    pool = redis_topology.async_pool(url, _sentinels(url), **_pool_options(timeout))
    return aioredis.Redis.from_pool(pool)


@functools.cache
def redis_client_sync(url: str, timeout: float = SOCKET_TIMEOUT_SECONDS) -> "redis.Redis":
    """The process's sync client for `url` (and `timeout`), for code that runs in a thread
    (a database thread, a sync view): one shared by every thread, as redis-py's pool is
    thread-safe. Never call it from a coroutine (it blocks the loop)."""
    pool = redis_topology.sync_pool(url, _sentinels(url), **_pool_options(timeout))
    return redis.Redis.from_pool(pool)


def _sentinels(url: str) -> redis_topology.Sentinels | None:
    # The sentinels say where REDIS_URL's server is now. Any other URL (a channel-layer
    # shard the probe checks, a test's own server) is used as written.
    sentinels: redis_topology.Sentinels | None = settings.REDIS_SENTINELS
    return sentinels if url == settings.REDIS_URL else None


def _pool_options(timeout: float) -> dict[str, Any]:
    # The same limits for both forms: a dead Redis is noticed within `timeout`.
    return {
        "max_connections": settings.REDIS_MAX_CONNECTIONS,
        "timeout": POOL_WAIT_SECONDS,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "decode_responses": True,
    }
