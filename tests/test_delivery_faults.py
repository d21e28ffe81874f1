"""Delivery under faults, with real daphne processes, real Redis and real WebSocket
clients: every client must end with exactly seq 1..N, and every message a sender saw
acknowledged must be among them."""

import asyncio
import shutil
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Message, Room
from tests.chat_client import ChatClient
from tests.conftest import session_cookie, unavailable
from tests.servers import Daphne, daphnes, free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 20
SENDERS = 5
PER_SENDER = 30
FAULT_AFTER_ACKS = 40  # the fault strikes once this many messages are acknowledged


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own, so the test may kill and restart it."""
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        unavailable("redis-server binary")
    server = RedisServer(port=free_port())
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()


def last_seq(slug: str) -> int:
    return Room.objects.get(slug=slug).last_seq


def saved_client_ids(slug: str) -> set[str]:
    return set(Message.objects.filter(room__slug=slug).values_list("client_id", flat=True))


Fault = Callable[[list[Daphne]], Awaitable[None]]


def run_traffic(
    servers: list[Daphne],
    users: list[User],
    fault: Fault | None,
    senders_home: int | None = None,
    *,
    endpoint: str = "room",
) -> list[ChatClient]:
    """20 clients over the processes, 5 of them sending as fast as acks come back (all on
    process `senders_home` if it is given, else spread over the processes), on one
    room's endpoint or the all-rooms one."""
    cookies = [session_cookie(user) for user in users]

    async def scenario() -> list[ChatClient]:
        clients = [
            ChatClient(
                f"c{i}",
                cookies[i],
                servers,
                home=i % len(servers),
                slug="lobby",
                all_rooms=endpoint == "all",
            )
            for i in range(CLIENTS)
        ]
        for client in clients:
            await client.start()
        senders = [c for c in clients if senders_home in (None, c.home)][:SENDERS]

        async def send_all(client: ChatClient) -> None:
            for k in range(PER_SENDER):
                await client.send(f"{client.name} #{k}")

        async def strike() -> None:
            if fault is None:
                return
            while sum(len(c.acked) for c in senders) < FAULT_AFTER_ACKS:
                await asyncio.sleep(0.01)
            await fault(servers)

        await asyncio.gather(strike(), *(send_all(c) for c in senders))
        final = await asyncio.to_thread(last_seq, "lobby")
        for client in clients:
            await client.wait_for_seq(final)
        for client in clients:
            await client.stop()
        return clients

    return asyncio.run(scenario())


def assert_complete(clients: list[ChatClient]) -> None:
    total = SENDERS * PER_SENDER
    assert last_seq("lobby") == total, "each message saved exactly once"
    for client in clients:
        assert client.seqs == list(range(1, total + 1)), client.name
    acked = {cid for client in clients for cid in client.acked}
    assert len(acked) == total
    assert acked <= saved_client_ids("lobby")
    assert not any(client.errors for client in clients)


@pytest.fixture
def users(make_user: Callable[..., User]) -> list[User]:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    made = [make_user(f"user{i}") for i in range(CLIENTS)]
    for user in made:  # joined, for the all-rooms endpoint
        services.room_join(user=user, slug="lobby")
    return made


@pytest.fixture(params=["room", "all"])
def endpoint(request: pytest.FixtureRequest) -> str:
    """/ws/chat/lobby/ ("room") or /ws/chat/ ("all"): every fault test runs on both."""
    return str(request.param)


def test_concurrent_senders_on_two_processes_give_every_client_1_to_n(
    shared_daphnes: list[Daphne], users: list[User], endpoint: str
) -> None:
    clients = run_traffic(shared_daphnes, users, fault=None, endpoint=endpoint)
    assert_complete(clients)


def test_process_killed_mid_run_loses_nothing(
    server_env: dict[str, str], log_dir: Path, users: list[User], endpoint: str
) -> None:
    async def kill(servers: list[Daphne]) -> None:
        servers[1].proc.kill()

    with daphnes(server_env, log_dir, 2) as servers:
        clients = run_traffic(servers, users, fault=kill, endpoint=endpoint)
    assert_complete(clients)
    moved = [c for c in clients if c.home == 1]
    assert all(c.connects >= 2 and c.close_codes for c in moved), "clients of the dead one moved"


def test_sigterm_closes_with_1012_and_loses_nothing(
    server_env: dict[str, str], log_dir: Path, users: list[User], endpoint: str
) -> None:
    async def terminate(servers: list[Daphne]) -> None:
        servers[1].proc.send_signal(signal.SIGTERM)

    with daphnes(server_env, log_dir, 2) as servers:
        clients = run_traffic(servers, users, fault=terminate, endpoint=endpoint)
        assert servers[1].proc.wait(timeout=20) == 0
        stopped_log = servers[1].log()
    assert_complete(clients)
    for client in clients:
        if client.home == 1:
            assert client.close_codes[0] == 1012, client.close_codes
    assert "Traceback" not in stopped_log


def test_redis_restart_mid_run_recovers_by_itself(
    server_env: dict[str, str],
    log_dir: Path,
    users: list[User],
    own_redis: RedisServer,
    endpoint: str,
) -> None:
    async def restart_redis(servers: list[Daphne]) -> None:
        own_redis.kill()
        await asyncio.sleep(1.5)
        own_redis.start()

    # A slow database sync, so that fast deliveries afterwards can only come through Redis.
    env = {**server_env, "REDIS_URL": own_redis.url, "CHAT_SYNC_INTERVAL_SECONDS": "3"}
    with daphnes(env, log_dir, 2) as servers:
        clients = run_traffic(servers, users, fault=restart_redis, endpoint=endpoint)
        assert_complete(clients)
        # Live delivery through Redis is back, not only the periodic database sync.
        latencies = asyncio.run(fanout_latencies(servers, users, count=5, endpoint=endpoint))
    assert max(latencies) < 1.0, latencies


async def fanout_latencies(
    servers: list[Daphne], users: list[User], count: int, endpoint: str = "room"
) -> list[float]:
    cookies = await asyncio.to_thread(lambda: [session_cookie(users[0]), session_cookie(users[1])])
    all_rooms = endpoint == "all"
    sender = ChatClient("s", cookies[0], servers, home=0, slug="lobby", all_rooms=all_rooms)
    receiver = ChatClient("r", cookies[1], servers, home=1, slug="lobby", all_rooms=all_rooms)
    await sender.start()
    await receiver.start()
    latencies = []
    for k in range(count):
        started = time.monotonic()
        seq = await sender.send(f"latency {k}")
        await receiver.wait_for_seq(seq, timeout=5)
        latencies.append(time.monotonic() - started)
    await sender.stop()
    await receiver.stop()
    return latencies


def test_channel_layer_overflow_is_filled_from_the_database(
    server_env: dict[str, str], log_dir: Path, users: list[User], endpoint: str
) -> None:
    async def freeze(servers: list[Daphne]) -> None:
        # A stalled process stops draining its channel, so the sending process's publishes
        # overflow it; without the stall the hub often keeps up even with capacity 1. The
        # senders are all on the other process: a process stopped inside its saving
        # transaction would hold the room's row lock, and nothing would be published at all.
        servers[1].proc.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 10
            while "over capacity" not in servers[0].log() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            servers[1].proc.send_signal(signal.SIGCONT)

    env = {**server_env, "CHAT_REDIS_LAYER": "core", "CHAT_LAYER_CAPACITY": "1"}
    with daphnes(env, log_dir, 2) as servers:
        clients = run_traffic(servers, users, fault=freeze, senders_home=0, endpoint=endpoint)
        logs = servers[0].log()
    assert "over capacity" in logs, "the burst never overflowed the layer: test proves nothing"
    assert_complete(clients)
