"""PostgreSQL restarted under two daphne processes taking sends (issue #28): sends during
the outage are refused `unavailable` (retryable), never acknowledged; resent with the
same client_id as the page's outbox does, they are saved once the database is back;
nothing acknowledged is lost or saved twice; the processes reconnect by themselves,
their periodic tasks survive with a warning per outage, and /readyz says both."""

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from chat.protocol.codes import ERRORS, ErrorCode
from tests.chat_client import ChatClient
from tests.conftest import TEST_PASSWORD, _server_env, unavailable
from tests.failover import postgres
from tests.servers import Daphne, daphnes, http_login

pytestmark = [pytest.mark.slow, pytest.mark.side_pass]

ROOMS = ["north", "south"]
SENDERS = 4  # two per process, two per room
RECEIVERS = 4  # one per room on each process
PER_SENDER = 20
ACKS_BEFORE_OUTAGE = 16
OUTAGE_SECONDS = 4.0
# An ack already on its way when the server went down may land just after pg_ctl returns.
ACK_IN_FLIGHT_SECONDS = 1.5
# The emulated outbox: the page resends after 2 s doubling to 30 s; the test, faster.
RESEND_FIRST_SECONDS = 0.2
RESEND_CAP_SECONDS = 1.0
RECOVERY_TIMEOUT_SECONDS = 20.0
# Per process and periodic task, an outage is one warning (and one line when it ends).
TASKS_THAT_LOG_AN_OUTAGE = 8


class OutboxClient(ChatClient):
    """ChatClient plus the page's outbox rule: a send refused with a retryable error is
    sent again with the same client_id, with backoff, until it is acknowledged."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.acked_at: dict[str, float] = {}  # client_id -> when send() saw its ack
        self._retries: dict[str, int] = {}
        self._seen_errors = 0
        self._resender: asyncio.Task[None] | None = None
        self._resends: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await super().start()
        self._resender = asyncio.get_running_loop().create_task(self._resend_refused())

    async def _resend_refused(self) -> None:
        while not self._stopping:
            for frame in self.errors[self._seen_errors :]:
                self._seen_errors += 1
                client_id = frame.get("client_id")
                if ERRORS[ErrorCode(frame["code"])].retryable and client_id in self.pending:
                    n = self._retries.get(client_id, 0)
                    self._retries[client_id] = n + 1
                    delay = min(RESEND_CAP_SECONDS, RESEND_FIRST_SECONDS * 2**n)
                    task = asyncio.get_running_loop().create_task(self._resend(client_id, delay))
                    self._resends.add(task)
                    task.add_done_callback(self._resends.discard)
            await asyncio.sleep(0.02)

    async def _resend(self, client_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        body = self.pending.get(client_id)
        if body is not None and not self._stopping:
            await self._send_frame(client_id, body)

    async def send_timed(self, body: str) -> None:
        started = time.monotonic()
        client_id_count = len(self.acked)
        await self.send(body, timeout=120)
        (client_id,) = list(self.acked)[client_id_count:]  # send() waits for its own
        self.acked_at[client_id] = time.monotonic()
        assert self.acked_at[client_id] >= started

    async def stop(self) -> None:
        await super().stop()
        for task in [self._resender, *self._resends]:
            if task is not None:
                task.cancel()


@dataclass
class Outage:
    stopped_at: float = 0.0
    restart_at: float = 0.0
    readyz_down: list[dict[str, object]] = field(default_factory=list)
    readyz_recovered_after: float = 0.0
    api_down: tuple[int, dict[str, object], str | None] | None = None


@dataclass
class Database:
    server: postgres.OwnPostgres
    env: dict[str, str]
    tokens: dict[str, str]


@pytest.fixture
def own_database(redis_url: str, static_root: Path) -> Iterator[Database]:
    if not postgres.available():
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) and a postgres user")
    with postgres.own_postgres() as server:
        server.create_database("chat")
        env = {
            **_server_env(redis_url, static_root),
            "DATABASE_URL": server.url("chat"),
            # Every periodic task that reads the database runs often enough to meet the
            # outage: the delivery sync, the session check and the job runner's beat.
            "CHAT_SYNC_INTERVAL_SECONDS": "0.5",
            "CHAT_SESSION_CHECK_SECONDS": "1",
            "CHAT_JOB_WORKER": "inprocess",
            "CHAT_JOB_LEASE_SECONDS": "3",
        }
        users = [f"pg{i}" for i in range(SENDERS + RECEIVERS)]
        tokens = postgres.prepare(env, users, ROOMS, TEST_PASSWORD)
        yield Database(server, env, tokens)


def readyz(server: Daphne) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{server.http}/readyz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def api_post(
    server: Daphne, token: str, slug: str, client_id: str
) -> tuple[int, dict[str, object], str | None]:
    """POST a message through the HTTP API: (status, JSON body, Retry-After)."""
    request = urllib.request.Request(
        f"{server.http}/api/rooms/{slug}/messages/",
        data=json.dumps({"body": "from the API", "client_id": client_id}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Retry-After")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Retry-After")


def rows(server: postgres.OwnPostgres) -> list[tuple[str, int, str]]:
    with psycopg.connect(server.url("chat")) as conn:
        found = conn.execute(
            "SELECT r.slug, m.seq, m.client_id FROM chat_message m"
            " JOIN chat_room r ON r.id = m.room_id ORDER BY r.slug, m.seq"
        ).fetchall()
    return [(str(slug), int(seq), str(client_id)) for slug, seq, client_id in found]


async def wait_ready(servers: list[Daphne]) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_SECONDS
    for server in servers:
        while (await asyncio.to_thread(readyz, server))[0] != 200:
            assert time.monotonic() < deadline, "readyz did not recover"
            await asyncio.sleep(0.1)


async def restart_under_load(
    pg: postgres.OwnPostgres,
    servers: list[Daphne],
    senders: list[OutboxClient],
    api: tuple[str, str],
    outage: Outage,
) -> None:
    """Once the senders are under way: stop PostgreSQL, probe /readyz and the API while
    it is down, start it again after OUTAGE_SECONDS and wait for /readyz to recover."""
    while sum(len(c.acked) for c in senders) < ACKS_BEFORE_OUTAGE:
        await asyncio.sleep(0.02)
    await asyncio.to_thread(pg.stop)
    outage.stopped_at = time.monotonic()
    for server in servers:
        status, body = await asyncio.to_thread(readyz, server)
        outage.readyz_down.append({"http": status, **body})
    token, client_id = api
    outage.api_down = await asyncio.to_thread(api_post, servers[1], token, ROOMS[1], client_id)
    # Every sender meets the outage (a send refused) before it ends; probes keep coming,
    # as a load balancer's would.
    while time.monotonic() < outage.stopped_at + OUTAGE_SECONDS or not all(
        c.errors for c in senders
    ):
        assert time.monotonic() < outage.stopped_at + 30, "a sender never met the outage"
        await asyncio.gather(*(asyncio.to_thread(readyz, server) for server in servers))
        await asyncio.sleep(0.3)
    outage.restart_at = time.monotonic()
    await asyncio.to_thread(pg.start)
    await wait_ready(servers)
    outage.readyz_recovered_after = time.monotonic() - outage.restart_at


def test_postgres_restart_refuses_then_saves_every_send_once(
    own_database: Database, log_dir: Path
) -> None:
    pg = own_database.server
    api_token = own_database.tokens[f"pg{SENDERS}"]
    api_client_id = uuid.uuid4().hex
    with daphnes(own_database.env, log_dir, 2) as servers:
        users = range(SENDERS + RECEIVERS)
        cookies = [http_login(servers[0].http, f"pg{i}", TEST_PASSWORD) for i in users]
        pids = [server.proc.pid for server in servers]
        outage = Outage()

        async def scenario() -> tuple[list[OutboxClient], list[OutboxClient], int]:
            senders = [
                OutboxClient(f"s{i}", cookies[i], servers, home=i % 2, slug=ROOMS[i // 2])
                for i in range(SENDERS)
            ]
            receivers = [
                OutboxClient(f"r{i}", cookies[SENDERS + i], servers, home=i % 2, slug=ROOMS[i // 2])
                for i in range(RECEIVERS)
            ]
            for client in senders + receivers:
                await client.start()

            async def send_all(client: OutboxClient) -> None:
                for k in range(PER_SENDER):
                    await client.send_timed(f"{client.name} #{k} {uuid.uuid4().hex[:6]}")
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(
                asyncio.gather(
                    restart_under_load(pg, servers, senders, (api_token, api_client_id), outage),
                    *(send_all(c) for c in senders),
                ),
                timeout=180,
            )
            # The API's post refused during the outage is saved when posted again.
            status, saved, _ = await asyncio.to_thread(
                api_post, servers[1], api_token, ROOMS[1], api_client_id
            )
            assert status == 201, saved
            api_seq = int(saved["seq"])  # type: ignore[call-overload]
            # Reads recover too: a new connection on each process gets its hello and the
            # room's history (read threads), and is delivered new messages.
            late = [
                OutboxClient(f"late{i}", cookies[-1], servers, home=i, slug=ROOMS[0])
                for i in range(2)
            ]
            for client in late:
                await client.start()
            # A quick restart between sends, which no send meets: the next sends find
            # their connections gone and are saved on new ones, with no error at all.
            errors_before = sum(len(c.errors) for c in senders)
            await asyncio.to_thread(pg.stop)
            await asyncio.to_thread(pg.start)
            for client in senders:
                await client.send_timed(f"{client.name} after the quick restart")
            assert sum(len(c.errors) for c in senders) == errors_before
            final = {
                slug: [r for r in await asyncio.to_thread(rows, pg) if r[0] == slug]
                for slug in ROOMS
            }
            for client in senders + receivers + late:
                await client.wait_for_seq(final[client.slug][-1][1])
            for client in senders + receivers + late:
                await client.stop()
            return senders, receivers + late, api_seq

        senders, watchers, api_seq = asyncio.run(scenario())
        logs = [server.log() for server in servers]
        alive = [server.proc.poll() is None for server in servers]

    # No restart: the same two processes served before, during and after.
    assert alive == [True, True]
    assert [s.proc.pid for s in servers] == pids
    # /readyz named the database while it was down, and answered 200 again after.
    assert [answer["http"] for answer in outage.readyz_down] == [503, 503]
    for answer in outage.readyz_down:
        checks = dict(answer["checks"])  # type: ignore[call-overload]
        assert checks.pop("database") is False
        assert all(checks.values()), checks  # only the database is named
    assert outage.readyz_recovered_after < RECOVERY_TIMEOUT_SECONDS
    # The API answered 503 `unavailable` with a Retry-After, not a 500.
    assert outage.api_down is not None
    status, body, retry_after = outage.api_down
    assert (status, body["error"]["code"]) == (503, ErrorCode.UNAVAILABLE)  # type: ignore[index]
    assert retry_after is not None

    # Refused during the outage, with the retryable code only, never acknowledged then.
    errors = [frame for client in senders for frame in client.errors]
    assert errors, "no send met the outage: the test proves nothing"
    assert {frame["code"] for frame in errors} == {ErrorCode.UNAVAILABLE}
    assert all(frame.get("client_id") for frame in errors)
    acked_at = {cid: t for client in senders for cid, t in client.acked_at.items()}
    down = (outage.stopped_at + ACK_IN_FLIGHT_SECONDS, outage.restart_at)
    assert [cid for cid, t in acked_at.items() if down[0] < t < down[1]] == []
    refused = {frame["client_id"] for frame in errors}
    assert refused <= set(acked_at), "every refused send was saved once resent"
    assert all(acked_at[cid] > outage.restart_at for cid in refused)
    print(  # the figures docs/deployment.md quotes (pytest -s)
        f"outage {outage.restart_at - outage.stopped_at:.1f} s: {len(errors)} refusals of"
        f" {len(refused)} sends; /readyz 200 {outage.readyz_recovered_after:.2f} s after the"
        " start began; refused sends acknowledged"
        f" {max(acked_at[cid] for cid in refused) - outage.restart_at:.2f} s after it"
    )

    # Nothing acknowledged lost, nothing saved twice, seqs 1..n in each room.
    saved = rows(pg)
    acked = {(client.slug, cid, seq) for client in senders for cid, seq in client.acked.items()}
    acked.add((ROOMS[1], api_client_id, api_seq))
    assert {(slug, cid, seq) for slug, seq, cid in saved} == acked
    assert len(saved) == len(acked) == SENDERS * (PER_SENDER + 1) + 1
    for slug in ROOMS:
        seqs = [seq for room, seq, _ in saved if room == slug]
        assert seqs == list(range(1, len(seqs) + 1)), slug
    # Every socket was delivered each room's messages once, in order (ChatClient fails on
    # a gap or a duplicate), to the end.
    for client in senders + watchers:
        assert client.seqs == [seq for room, seq, _ in saved if room == client.slug], client.name
    # Sends were saved by both processes after the restart (each reconnected by itself).
    assert {c.home for c in senders if max(c.acked_at.values()) > outage.restart_at} == {0, 1}

    # The periodic tasks met the outage and carried on: a warning each per outage, no
    # tracebacks, no line per probe or per try.
    for log in logs:
        assert "Traceback" not in log
        assert "Service Unavailable" not in log
        assert log.count("database unavailable") <= 2 * TASKS_THAT_LOG_AN_OUTAGE
        assert log.count("saving sends: database unavailable") == 1
        for task in ("saving sends", "delivery sync", "session check", "readyz"):
            assert f"{task}: database answers again" in log, task
        assert re.search(r"job runner \S+: database answers again", log)
