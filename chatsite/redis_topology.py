"""Where this install's Redis is: the one rule every Redis client follows (the channel
layer, presence, limits and caps, their sync readers, the readiness probe).

Three shapes, from the environment (README "Configuration", docs/deployment.md):

- `REDIS_URL` alone: one Redis server at that address.
- `REDIS_SENTINELS=host:port,...` with `REDIS_SENTINEL_MASTER=<name>`: the sentinels say
  which server is the primary of `<name>` now; `REDIS_URL` still gives the password and
  the db number (its host and port are not used). Every pool asks the sentinels again
  when its connections break, so a failover needs no restart.
- `CHAT_LAYER_REDIS_URLS=redis://a,redis://b`: the channel layer only is sharded over
  these servers (channels-redis' consistent hash of channel and group names); presence
  and limits stay on `REDIS_URL`.

Imported by settings.py, so it reads no Django setting itself: callers pass them.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.sentinel
from redis import asyncio as aioredis
from redis.asyncio import sentinel as aiosentinel

# How long a sentinel may take to answer "who is the primary": a dead sentinel is
# skipped for the next one within a second instead of holding a command up.
SENTINEL_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Sentinels:
    """The sentinels to ask, and the name of the primary they watch."""

    addresses: tuple[tuple[str, int], ...]
    master: str


def sentinels_parse(addresses: str, master: str) -> Sentinels | None:
    """`REDIS_SENTINELS` and `REDIS_SENTINEL_MASTER`: both set, or neither (None).
    Raises ValueError with the reason."""
    addresses, master = addresses.strip(), master.strip()
    if not addresses and not master:
        return None
    if not addresses or not master:
        raise ValueError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together.")
    parsed = []
    for item in (part.strip() for part in addresses.split(",")):
        host, _, port = item.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")  # [::1]:26379
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS: {item!r} is not host:port.")
        parsed.append((host, int(port)))
    return Sentinels(tuple(parsed), master)


def layer_urls_parse(value: str) -> list[str]:
    """`CHAT_LAYER_REDIS_URLS`: the channel layer's shards (empty: the layer uses REDIS_URL)."""
    urls = [part.strip() for part in value.split(",") if part.strip()]
    for url in urls:
        if urlsplit(url).scheme not in {"redis", "rediss"}:
            raise ValueError(f"CHAT_LAYER_REDIS_URLS: {url!r} is not a redis:// URL.")
    return urls


def server_options(url: str) -> dict[str, Any]:
    """What `url` says besides where the server is: password, user name, db number, TLS.
    Under Sentinel, the sentinels say where."""
    if urlsplit(url).scheme not in {"redis", "rediss"}:
        raise ValueError("With REDIS_SENTINELS, REDIS_URL must be redis:// or rediss://.")
    options: dict[str, Any] = redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
    options.pop("host", None)
    options.pop("port", None)
    if options.pop("connection_class", None) is not None:  # rediss://
        options["ssl"] = True  # the sentinel pool picks its TLS connection class
    return options


def _sentinel_kwargs() -> dict[str, Any]:
    return {
        "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
        "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
    }


def layer_hosts(
    url: str, sentinels: Sentinels | None, shard_urls: list[str], **options: Any
) -> list[dict[str, Any]]:
    """channels-redis' `hosts`: one entry per shard, each with `options` (pool size,
    timeouts). channels_redis.utils.create_pool builds a sentinel pool from an entry
    with `sentinels` and `master_name`."""
    if shard_urls:
        return [{"address": shard, **options} for shard in shard_urls]
    if sentinels is None:
        return [{"address": url, **options}]
    return [
        {
            "sentinels": list(sentinels.addresses),
            "master_name": sentinels.master,
            "sentinel_kwargs": _sentinel_kwargs(),
            **server_options(url),
            **options,
        }
    ]


class _AsyncBlockingSentinelPool(
    aiosentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool
):
    """A sentinel pool that queues for a free connection (as the plain pools here do)
    instead of raising MaxConnectionsError: the sentinel parts come first in the MRO,
    the blocking get/release after them."""


class _BlockingSentinelPool(redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """The sync form of _AsyncBlockingSentinelPool."""


def async_pool(url: str, sentinels: Sentinels | None, **options: Any) -> aioredis.ConnectionPool:
    """A blocking asyncio pool for `url`, following the primary when `sentinels` is set."""
    if sentinels is None:
        return aioredis.BlockingConnectionPool.from_url(url, **options)
    # redis-py's sentinel module is untyped.
    manager = aiosentinel.Sentinel(sentinels.addresses, sentinel_kwargs=_sentinel_kwargs())  # type: ignore[no-untyped-call]
    pool = _AsyncBlockingSentinelPool(sentinels.master, manager, **server_options(url), **options)  # type: ignore[no-untyped-call]
    return pool


def sync_pool(url: str, sentinels: Sentinels | None, **options: Any) -> redis.ConnectionPool:
    """The thread-safe sync form of async_pool."""
    if sentinels is None:
        return redis.BlockingConnectionPool.from_url(url, **options)
    manager = redis.sentinel.Sentinel(sentinels.addresses, sentinel_kwargs=_sentinel_kwargs())  # type: ignore[no-untyped-call]
    pool = _BlockingSentinelPool(sentinels.master, manager, **server_options(url), **options)  # type: ignore[no-untyped-call]
    return pool
