"""Redis Sentinel failover under traffic: two real daphne processes following a primary
that three sentinels watch, PostgreSQL, clients sending; the primary is killed with
SIGKILL and its replica promoted. Sends resume, nothing acknowledged is lost, every
client ends with every message once and in order, presence and /readyz recover, and no
daphne is restarted."""

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Message, Room
from tests.chat_client import ChatClient
from tests.conftest import session_cookie, unavailable
from tests.failover.redis_sentinel import SentinelSet, binaries_present, sentinel_set
from tests.servers import Daphne, daphnes, recv_json, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.side_pass, pytest.mark.django_db(transaction=True)]

CLIENTS = 12
SENDERS = 4
FAULT_AFTER_ACKS = 30  # the primary is killed once this many sends are acknowledged
AFTER_PROMOTION_ACKS = 30  # and the senders stop once this many more are
RESUME_BOUND_SECONDS = 15.0  # the bound: sends resume within 15 s of the promotion
RECOVERY_BOUND_SECONDS = 15.0  # presence and /readyz back within this of the promotion
PROMOTION_TIMEOUT_SECONDS = 60.0
SEND_TIMEOUT_SECONDS = 20.0
SLUG = "lobby"


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    if not binaries_present():
        unavailable("redis-server and redis-sentinel binaries")
    with sentinel_set() as setup:
        yield setup


@pytest.fixture
def users(make_user: Callable[..., User]) -> list[User]:
    Room.objects.get_or_create(slug=SLUG, defaults={"name": "Lobby"})
    made = [make_user(f"user{i}") for i in range(CLIENTS + 1)]  # the last one: `late`
    for user in made:
        services.room_join(user=user, slug=SLUG)
    return made


@dataclass
class Outcome:
    clients: list[ChatClient]
    final: int  # the room's last seq when the senders stopped
    resumed_after: float  # seconds from the promotion until every sender had an ack again
    promoted_after: float  # seconds from the kill until the sentinels named the replica
    unanswered: int  # sends that got no ack in time (allowed: refused, never acked)
    online_before: set[str] = field(default_factory=set)
    online_after: set[str] = field(default_factory=set)
    ready_after: float = 0.0
    codes_during: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)


async def hello_online(server: Daphne, cookie: str) -> set[str]:
    """Who a fresh socket's hello shows online in the room."""
    ws = await ws_connect(server, f"/ws/chat/{SLUG}/", cookie)
    try:
        hello = await recv_json(ws, 20)
        assert hello["type"] == "hello", hello
        return set(hello["online"])
    finally:
        await ws.close()


async def wait_online(server: Daphne, cookie: str, names: set[str], bound: float) -> set[str]:
    """hello.online once it shows every one of `names` (or what it shows at `bound`)."""
    deadline = time.monotonic() + bound
    while True:
        online = await hello_online(server, cookie)
        if names <= online or time.monotonic() > deadline:
            return online
        await asyncio.sleep(0.2)


def readyz(server: Daphne) -> int:
    try:
        with urllib.request.urlopen(f"{server.http}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


async def wait_ready(servers: list[Daphne], bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        codes = await asyncio.gather(*(asyncio.to_thread(readyz, s) for s in servers))
        if all(code == 200 for code in codes):
            return True
        await asyncio.sleep(0.2)
    return False


def last_seq() -> int:
    return Room.objects.get(slug=SLUG).last_seq


async def fanout_latencies(servers: list[Daphne], cookies: list[str], count: int) -> list[float]:
    """Send on one process, time the delivery on the other: with a slow database sync,
    only the channel layer delivers this fast."""
    sender = ChatClient("s", cookies[0], servers, home=0, slug=SLUG)
    receiver = ChatClient("r", cookies[1], servers, home=1, slug=SLUG)
    await sender.start()
    await receiver.start()
    latencies = []
    for k in range(count):
        started = time.monotonic()
        seq = await sender.send(f"latency {k}")
        await receiver.wait_for_seq(seq, timeout=10)
        latencies.append(time.monotonic() - started)
    await sender.stop()
    await receiver.stop()
    return latencies


async def failover_under_traffic(
    servers: list[Daphne], setup: SentinelSet, cookies: list[str], names: set[str]
) -> Outcome:
    """`names` are online before the failover; the last cookie's user connects while no
    primary answers and must be shown online after it too."""
    loop = asyncio.get_running_loop()
    clients = [
        ChatClient(f"c{i}", cookies[i], servers, home=i % len(servers), slug=SLUG)
        for i in range(CLIENTS)
    ]
    for client in clients:
        await client.start()
    online_before = await wait_online(servers[1], cookies[0], names, RECOVERY_BOUND_SECONDS)
    late = ChatClient("late", cookies[CLIENTS], servers, home=0, slug=SLUG)
    senders = clients[:SENDERS]
    stop = asyncio.Event()
    unanswered = 0

    async def send_loop(client: ChatClient) -> None:
        nonlocal unanswered
        k = 0
        while not stop.is_set():
            try:
                await client.send(f"{client.name} #{k}", timeout=SEND_TIMEOUT_SECONDS)
            except TimeoutError:
                unanswered += 1  # still pending: resent on the next reconnect, if any
            k += 1

    def acks() -> int:
        return sum(len(c.acked) for c in senders)

    async def until(condition: Callable[[], bool], bound: float, what: str) -> None:
        deadline = loop.time() + bound
        while not condition():
            assert loop.time() < deadline, what
            await asyncio.sleep(0.01)

    await asyncio.to_thread(setup.wait_failover_ready)  # mostly done while daphnes started
    tasks = [loop.create_task(send_loop(c)) for c in senders]
    await until(lambda: acks() >= FAULT_AFTER_ACKS, 60, "no traffic before the fault")
    old_port = setup.primary.port
    killed_at = loop.time()
    setup.primary.kill()
    # A connect while no primary answers (presence and caps cannot be written): it is
    # served, or refused and retried; either way the user ends up online.
    late_start = loop.create_task(late.start())
    promotion = asyncio.ensure_future(
        asyncio.to_thread(setup.wait_promoted, old_port, PROMOTION_TIMEOUT_SECONDS)
    )
    codes_during: set[int] = set()  # what /readyz answered until the promotion
    while not promotion.done():
        codes_during.add(await asyncio.to_thread(readyz, servers[0]))
        await asyncio.sleep(0.1)
    await promotion
    promoted_at = loop.time()
    counts = [len(c.acked) for c in senders]
    await until(
        lambda: all(len(c.acked) > n for c, n in zip(senders, counts, strict=True)),
        RESUME_BOUND_SECONDS + SEND_TIMEOUT_SECONDS,
        "sends did not resume",
    )
    resumed_after = loop.time() - promoted_at
    await late_start
    clients.append(late)
    total = acks()
    await until(lambda: acks() >= total + AFTER_PROMOTION_ACKS, 60, "sends stalled again")
    stop.set()
    await asyncio.gather(*tasks)

    final = await asyncio.to_thread(last_seq)
    for client in clients:
        await client.wait_for_seq(final)
    everyone = names | {f"user{CLIENTS}"}
    online_after = await wait_online(servers[1], cookies[0], everyone, RECOVERY_BOUND_SECONDS)
    ready = await wait_ready(servers, RECOVERY_BOUND_SECONDS)
    ready_after = loop.time() - promoted_at if ready else float("inf")
    for client in clients:
        await client.stop()
    return Outcome(
        clients=clients,
        final=final,
        resumed_after=resumed_after,
        promoted_after=promoted_at - killed_at,
        unanswered=unanswered,
        online_before=online_before,
        online_after=online_after,
        ready_after=ready_after,
        codes_during=codes_during,
        latencies=await fanout_latencies(servers, cookies, count=5),
    )


def test_killing_the_primary_loses_nothing_and_every_redis_user_follows_the_replica(
    server_env: dict[str, str], log_dir: Path, users: list[User], sentinels: SentinelSet
) -> None:
    cookies = [session_cookie(user) for user in users]
    names = {user.username for user in users[:CLIENTS]}
    env = {
        **server_env,
        **sentinels.env(),
        # A slow database sync, so that fast deliveries afterwards can only come through
        # Redis.
        "CHAT_SYNC_INTERVAL_SECONDS": "3",
        # The send rate limit and the per-user cap on: their Redis stores are in the path
        # of every send and connect (set high enough never to refuse one).
        "CHAT_MESSAGE_BURST": "100000",
        "CHAT_MESSAGE_RATE_PER_SECOND": "100000",
        "CHAT_MAX_CONNECTIONS_PER_USER": "100",
        # Presence written again every 2 s (a quarter of this): what the failover lost
        # comes back within the recovery bound.
        "CHAT_PRESENCE_TIMEOUT_SECONDS": "8",
    }
    with daphnes(env, log_dir, 2) as servers:
        pids = [server.proc.pid for server in servers]
        outcome = asyncio.run(failover_under_traffic(servers, sentinels, cookies, names))
        alive = [server.proc.poll() is None for server in servers]
        assert [server.proc.pid for server in servers] == pids
    print(
        f"promoted {outcome.promoted_after:.1f}s after the kill; sends resumed "
        f"{outcome.resumed_after:.1f}s after the promotion; /readyz 200 after "
        f"{outcome.ready_after:.1f}s (during: {sorted(outcome.codes_during)}); "
        f"unanswered sends {outcome.unanswered}; "
        f"latencies after {[round(x, 3) for x in outcome.latencies]}"
    )
    assert alive == [True, True], "no daphne restarted or died"
    assert outcome.resumed_after <= RESUME_BOUND_SECONDS
    # Every acknowledged send is saved, once; every client has every saved message once,
    # in order (ChatClient fails on a gap, duplicate or reordering as it receives).
    final = outcome.final
    saved = list(
        Message.objects.filter(room__slug=SLUG, seq__lte=final).values_list("client_id", flat=True)
    )
    assert len(saved) == final == len(set(saved))
    acked = {cid for client in outcome.clients for cid in client.acked}
    assert acked <= set(saved), "an acknowledged send is missing from the database"
    for client in outcome.clients:
        assert client.seqs == list(range(1, final + 1)), client.name
    # Presence: everyone online before the failover is shown online after it.
    assert names <= outcome.online_before
    assert names <= outcome.online_after, names - outcome.online_after
    assert users[CLIENTS].username in outcome.online_after, "the user who came during it"
    # /readyz reported the outage, and the recovery.
    assert 503 in outcome.codes_during, outcome.codes_during
    assert outcome.ready_after <= RECOVERY_BOUND_SECONDS, "/readyz did not come back to 200"
    # Live delivery goes through the new primary again, not only the database sync.
    assert max(outcome.latencies) < 1.0, outcome.latencies
    # Refused sends got an error or no ack: none of them is among the acknowledged.
    refused = {e.get("client_id") for c in outcome.clients for e in c.errors}
    assert not (refused & acked), refused & acked
