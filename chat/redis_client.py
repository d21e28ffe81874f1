"""The one way the app opens a Redis client of its own (presence, limits): the same
pool limits and timeouts as the channel layer's, so a dead Redis is noticed quickly."""

from django.conf import settings
from redis import asyncio as aioredis


def redis_client(url: str) -> "aioredis.Redis":
    return aioredis.Redis.from_url(
        url,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        socket_connect_timeout=5,
        socket_timeout=5,
        health_check_interval=15,
        decode_responses=True,
    )
