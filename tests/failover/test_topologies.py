"""The delivery guarantees (tests/test_delivery_faults.py: every client ends with exactly
seq 1..N, every acknowledged send saved) on the two other Redis topologies of
chatsite/redis_topology.py: Redis Sentinel (a primary, a replica, three sentinels) and
the channel layer sharded over two Redis servers. Same traffic, same checks, two real
daphne processes."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from chat import events, services
from chat.models import Room
from tests.conftest import unavailable
from tests.failover.redis_sentinel import (
    RedisProcess,
    binaries_present,
    plain_redis,
    sentinel_set,
)
from tests.servers import Daphne, daphnes
from tests.test_delivery_faults import CLIENTS, assert_complete, fanout_latencies, run_traffic

pytestmark = [pytest.mark.slow, pytest.mark.side_pass, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def users(make_user: Callable[..., User]) -> list[User]:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    made = [make_user(f"user{i}") for i in range(CLIENTS)]
    for user in made:  # joined, for the all-rooms endpoint
        services.room_join(user=user, slug="lobby")
    return made


def split_prefix(groups: list[str], shards: int) -> str:
    """A layer prefix under which `groups` hash to different shards (channels-redis'
    consistent hash of "<prefix>__group__<name>"), so that each shard carries traffic."""
    from channels_redis.utils import _consistent_hash

    for n in range(10_000):
        prefix = f"shard{n}"
        seen = {_consistent_hash(f"{prefix}__group__{g}", shards) for g in groups}
        if len(seen) == min(len(groups), shards):
            return prefix
    raise AssertionError("no prefix splits the groups")


def published(server: RedisProcess) -> int:
    with server.client() as client:
        return int(client.info("commandstats").get("cmdstat_publish", {}).get("calls", 0))


@contextmanager
def sharded_env(
    server_env: dict[str, str], **extra: str
) -> Iterator[tuple[dict[str, str], list[RedisProcess]]]:
    """Two test-owned layer servers, and the daphnes' settings for them: presence and
    limits stay on the suite's Redis (REDIS_URL), only the channel layer is sharded,
    under a prefix that puts the messages group and the room's group on different
    servers."""
    lobby = Room.objects.get(slug="lobby").pk
    prefix = split_prefix([events.MESSAGES_GROUP, events.room_group(lobby)], 2)
    with plain_redis(2) as shards:
        urls = ",".join(f"redis://127.0.0.1:{s.port}/0" for s in shards)
        env = {**server_env, "CHAT_LAYER_REDIS_URLS": urls, "CHAT_LAYER_PREFIX": prefix}
        yield {**env, **extra}, shards


@pytest.fixture
def sharded(
    server_env: dict[str, str], users: list[User]
) -> Iterator[tuple[dict[str, str], list[RedisProcess]]]:
    if not binaries_present():
        unavailable("redis-server binary")
    with sharded_env(server_env) as found:
        yield found


@pytest.fixture
def topology(
    request: pytest.FixtureRequest, server_env: dict[str, str], users: list[User]
) -> Iterator[tuple[str, dict[str, str], list[RedisProcess]]]:
    """(name, daphne environment, the layer's Redis servers) for "sentinel" or "sharded"."""
    if not binaries_present():
        unavailable("redis-server and redis-sentinel binaries")
    if request.param == "sentinel":
        with sentinel_set() as setup:
            yield "sentinel", {**server_env, **setup.env()}, [setup.primary]
    else:
        with sharded_env(server_env) as (env, shards):
            yield "sharded", env, shards


def test_concurrent_senders_on_two_processes_give_every_client_1_to_n(
    sharded: tuple[dict[str, str], list[RedisProcess]], log_dir: Path, users: list[User]
) -> None:
    # On Sentinel, test_sentinel_failover.py runs this traffic (and kills the primary).
    env, shards = sharded
    with daphnes(env, log_dir, 2) as servers:
        clients = run_traffic(servers, users, fault=None, endpoint="all")
    assert_complete(clients)
    # Both servers of the layer carried their share of the publishes.
    assert all(published(shard) > 0 for shard in shards)


@pytest.mark.parametrize("topology", ["sentinel", "sharded"], indirect=True)
def test_process_killed_mid_run_loses_nothing(
    topology: tuple[str, dict[str, str], list[RedisProcess]],
    log_dir: Path,
    users: list[User],
) -> None:
    async def kill(servers: list[Daphne]) -> None:
        servers[1].proc.kill()

    name, env, _ = topology
    # One endpoint on each topology (tests/test_delivery_faults.py runs both on one Redis).
    endpoint = "all" if name == "sentinel" else "room"
    with daphnes(env, log_dir, 2) as servers:
        clients = run_traffic(servers, users, fault=kill, endpoint=endpoint)
    assert_complete(clients)
    moved = [c for c in clients if c.home == 1]
    assert all(c.connects >= 2 and c.close_codes for c in moved), "clients of the dead one moved"


def test_a_shard_restart_mid_run_recovers_by_itself(
    server_env: dict[str, str], log_dir: Path, users: list[User]
) -> None:
    """One of the two layer servers killed and started again under traffic (as
    test_redis_restart_mid_run_recovers_by_itself does with the one Redis)."""
    if not binaries_present():
        unavailable("redis-server binary")
    # A slow database sync, so that fast deliveries afterwards can only come through Redis.
    with sharded_env(server_env, CHAT_SYNC_INTERVAL_SECONDS="3") as (env, shards):

        async def restart_shard(servers: list[Daphne]) -> None:
            shards[1].kill()
            await asyncio.sleep(1.5)
            await asyncio.to_thread(shards[1].start)

        with daphnes(env, log_dir, 2) as servers:
            clients = run_traffic(servers, users, fault=restart_shard)
            assert_complete(clients)
            # Live delivery through the layer is back, not only the database sync.
            latencies = asyncio.run(fanout_latencies(servers, users, count=5))
    assert max(latencies) < 1.0, latencies
