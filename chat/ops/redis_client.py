"""The one way the app opens a Redis client of its own (presence, limits): the same
pool limits and timeouts as the channel layer's, so a dead Redis is noticed quickly."""

from django.conf import settings
from redis import asyncio as aioredis

# How long a command waits for a free pooled connection before failing.
POOL_WAIT_SECONDS = 5


def redis_client(url: str) -> "aioredis.Redis":
    # A blocking pool: when thousands of sockets close at once (a deploy, a network
    # blip), their presence and cap updates queue for a connection instead of failing
    # with MaxConnectionsError (which left users shown online until the sweep).
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        socket_connect_timeout=5,
        socket_timeout=5,
        health_check_interval=15,
        decode_responses=True,
    )
    return aioredis.Redis(connection_pool=pool)
