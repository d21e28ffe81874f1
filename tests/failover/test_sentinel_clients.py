"""Every Redis client the app opens outside the channel layer follows the primary the
sentinels name: the async and sync clients (presence, caps and limits, their readers),
the `limits` library's storage (accounts/limits.py) and the /readyz check; one process,
real redis-server and redis-sentinel processes."""

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from limits import RateLimitItemPerHour

from accounts import limits as account_limits
from chat.ops import health
from chat.ops.redis_client import redis_client, redis_client_sync
from chatsite import redis_topology
from tests.conftest import unavailable
from tests.failover.redis_sentinel import MASTER_NAME, SentinelSet, binaries_present, sentinel_set

pytestmark = [pytest.mark.slow]

RECOVERY_BOUND_SECONDS = 15.0


@pytest.fixture
def sentinels(settings: Any) -> Iterator[SentinelSet]:
    if not binaries_present():
        unavailable("redis-server and redis-sentinel binaries")
    with sentinel_set() as setup:
        settings.REDIS_URL = setup.env(db=3)["REDIS_URL"]
        settings.REDIS_SENTINELS = redis_topology.sentinels_parse(setup.addresses, MASTER_NAME)
        yield setup


def eventually(call: Any, bound: float = RECOVERY_BOUND_SECONDS) -> Any:
    """`call()`'s result once it stops raising a Redis error (a broken connection is
    reported once, then the pool asks the sentinels again)."""
    deadline = time.monotonic() + bound
    while True:
        try:
            return call()
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_app_clients_follow_the_promoted_replica(sentinels: SentinelSet, settings: Any) -> None:
    url = settings.REDIS_URL
    sync = redis_client_sync(url)
    limiter = account_limits._limiter(url)
    item = RateLimitItemPerHour(1000)
    # The replica linked and the sentinels agreed first: on a loaded machine the replica's
    # first sync can take longer than the WAIT below would allow.
    sentinels.wait_failover_ready()
    sync.set("written-before", "1")
    assert sync.wait(1, 15000) == 1  # on the replica before the primary dies
    assert limiter.hit(item, "t", "before")
    assert asyncio.run(health._redis_ok())

    old = sentinels.primary.port
    sentinels.primary.kill()
    new = sentinels.wait_promoted(old, 60)
    assert new == sentinels.replica.port

    # The same pools, not new ones: they find the new primary by themselves.
    assert eventually(lambda: sync.get("written-before")) == "1"
    assert eventually(lambda: limiter.hit(item, "t", "after"))
    assert asyncio.run(health._redis_ok())

    async def fresh_async() -> Any:
        client = redis_client(url)
        try:
            return await client.get("written-before")
        finally:
            await client.aclose()

    assert asyncio.run(fresh_async()) == "1"
