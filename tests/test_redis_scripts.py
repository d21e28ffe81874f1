"""Scripts batched per event loop (chat/ops/redis_scripts.py): concurrent calls of the
limits' and presence's scripts share one round trip, each caller gets its own answer or
error, and scripts Redis forgot (a restart, a failover) are loaded again. Real Redis."""

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from chat.limits import stores as limit_stores
from chat.ops.redis_client import redis_client
from chat.ops.redis_scripts import ScriptBatch
from chat.presence import stores as presence_stores


def counting_pipelines(client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sent: list[int] = []
    real = client.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        sent.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "pipeline", counted)
    return sent


async def test_concurrent_admits_releases_and_takes_share_one_round_trip(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = limit_stores.RedisStore(redis_url, f"t{uuid.uuid4().hex[:8]}")
    sent = counting_pipelines(store.redis, monkeypatch)
    # Ten connects of one user with a cap of 8, and two sends, at the same moment.
    found = await asyncio.gather(
        *(store.admit([("user:1", 8)]) for _ in range(10)),
        store.take_token("user:1", 5, 1.0),
        store.take_token("user:2", 5, 1.0),
    )
    assert len(sent) == 1
    assert found[:10] == [0] * 8 + [1, 1]  # in the order asked: the last two at the cap
    assert found[10:] == [0.0, 0.0]
    await asyncio.gather(store.release({"user:1": 4}), store.release({"user:1": 4}))
    assert len(sent) == 2
    assert await store.admit([("user:1", 8)]) == 0  # the releases gave all eight back
    await store.redis.aclose()


async def test_a_failing_call_fails_alone_and_its_batch_carries_on(redis_url: str) -> None:
    client = redis_client(redis_url)
    batch = ScriptBatch(client)
    ok = client.register_script("return ARGV[1]")
    broken = client.register_script("return redis.error_reply('no such thing')")
    key = f"t{uuid.uuid4().hex[:8]}"
    found = await asyncio.gather(
        batch.call(ok, [key], ["a"]),
        batch.call(broken, [key], []),
        batch.call(ok, [key], ["b"]),
        return_exceptions=True,
    )
    assert found[0] == "a"
    assert found[2] == "b"
    assert isinstance(found[1], ResponseError)
    assert "no such thing" in str(found[1])
    await client.aclose()


async def test_scripts_redis_forgot_are_loaded_again(redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    store = presence_stores.RedisStore(redis_url, prefix)
    assert await store.arrive_many([1, 2], "alice", {1: "one", 2: "two"}) == [1, 2]
    # What a Redis restart or a promoted replica does to the scripts: forgets them. The
    # scripts of every other test are loaded again by the same path.
    await store.redis.script_flush()
    assert await store.depart_many([1, 2], "alice") == [1, 2]
    assert await store.arrive_many([2], "alice", {2: "two"}) == [2]
    assert await store.slug(2) == "two"
    assert await store.counts([1, 2]) == [0, 1]
    await store.depart_many([2], "alice")
    await store.redis.aclose()


async def test_the_round_trip_failing_fails_each_of_its_calls(redis_url: str) -> None:
    # A server nobody listens on: every call of the batch gets the connection error.
    client = redis_client("redis://127.0.0.1:1/0", timeout=0.5)
    batch = ScriptBatch(client)
    script = client.register_script("return 1")
    found = await asyncio.gather(
        *(batch.call(script, ["k"], []) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(error, Exception) for error in found)
    await client.aclose()


async def test_attempts_are_a_moving_window_that_counts_only_what_it_lets_in(
    redis_url: str,
) -> None:
    store = limit_stores.RedisStore(redis_url, f"t{uuid.uuid4().hex[:8]}")
    first = await asyncio.gather(*(store.attempt("connect:a", 3, 1) for _ in range(5)))
    assert first == [True, True, True, False, False]
    assert await store.attempt("connect:b", 3, 1)  # another address: its own window
    await asyncio.sleep(1.05)  # the first three left the window; the refusals never counted
    again = await asyncio.gather(*(store.attempt("connect:a", 3, 1) for _ in range(4)))
    assert again == [True, True, True, False]
    await store.redis.aclose()
