"""Connecting a worker's clients: the first connect of all of them (bounded handshakes in
flight), and reconnecting as the page does, with its backoff, through a balancer."""

import asyncio
import math
import random
import re
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import picows

from bench.loadgen_conn import Conn
from bench.loadgen_specs import Reconnect
from bench.loadgen_summary import cpu_seconds

if TYPE_CHECKING:
    from bench.loadgen_worker import Worker

CONNECT_TIMEOUT_SECONDS = 30.0
# Reconnecting as the page does (chat/static/chat/socket.js, backoff.js): after a 1012
# restart at a random moment of the window its close reason asks for ("spread=<s>",
# clamped to RESTART_SPREAD_S..RESTART_SPREAD_MAX_S), and so for up to RESTART_TRIES
# failed attempts; otherwise full jitter: uniform(0, min(cap, base * 2**attempt)).
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RESTART_MIN_S = 0.2
RESTART_SPREAD_S = 3.0
RESTART_SPREAD_MAX_S = 60.0
RESTART_TRIES = 6
_SPREAD = re.compile(rb"(?:^|[\s;,])spread=(\d+(?:\.\d+)?)(?:$|[\s;,])")
HELLO_TIMEOUT_S = 15.0
CLOSE_SERVICE_RESTART = 1012


def _passed_on(error: BaseException) -> bool:
    """What a balancer passes on to the next process: a refused connection, a 503."""
    if isinstance(error, ConnectionRefusedError):
        return True
    response = getattr(error, "response", None)
    return isinstance(error, picows.WSInvalidStatusError) and (
        getattr(response, "status", None) in (502, 503) or "503" in str(error)
    )


def restart_spread(reason: bytes) -> float:
    """backoff.js's restartSpread: the window a 1012's reason asks for, in seconds."""
    found = _SPREAD.search(reason)
    asked = float(found[1]) if found else RESTART_SPREAD_S
    return min(RESTART_SPREAD_MAX_S, max(RESTART_SPREAD_S, asked))


async def connect_all(
    conns: Sequence[Conn], concurrency: int, timeout_s: float, budget_s: float | None
) -> dict[str, Any]:
    """Worker.connect's work: open every connection (at most `concurrency` handshakes at
    once), wait for each one's hello, start none after `budget_s`; report."""
    gate = asyncio.Semaphore(concurrency)
    durations = array("q")
    hello_bytes = array("q")
    hello_rooms = array("q")
    failures: Counter[str] = Counter()
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    stop_at = wall0 + budget_s if budget_s is not None else math.inf
    skipped = 0
    last_done = wall0

    async def one(conn: Conn) -> None:
        nonlocal skipped, last_done
        async with gate:
            if time.monotonic() > stop_at:
                skipped += 1
                return
            started = time.monotonic_ns()
            try:
                await conn.open(conn.spec.url, conn.spec.origin, timeout_s)
            except Exception as error:  # counted and reported, never fatal
                failures[f"{type(error).__name__}: {error}"[:120]] += 1
                conn.retrieve_hello_error()
                if conn.transport is not None:
                    conn.transport.disconnect()
                return
            durations.append((time.monotonic_ns() - started) // 1000)
            hello_bytes.append(conn.hello_bytes)
            hello_rooms.append(conn.hello_rooms)
            last_done = time.monotonic()

    await asyncio.gather(*(one(conn) for conn in conns))
    return {
        "attempted": len(conns) - skipped,
        "connected": len(durations),
        "failures": dict(failures),
        "connect_us": durations,
        "hello_bytes": hello_bytes,
        "hello_rooms": hello_rooms,
        # until the last successful hello: a straggler's timeout is not connect time
        "wall_s": last_done - wall0,
        "cpu_s": cpu_seconds() - cpu0,
    }


class Reconnector:
    """A worker's reconnects (storm): armed with a Reconnect plan, it brings back every
    dropped connection and records each drop as (dropped at, back at or 0, attempts)."""

    def __init__(self, worker: "Worker") -> None:
        self.worker = worker
        self.plan: Reconnect | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        # (dropped at, back at or 0, attempts) per drop, CLOCK_MONOTONIC ns
        self.events: list[tuple[int, int, int]] = []
        self.resent = 0
        self.passed_on = 0  # reconnect attempts a refusing process passed to the next

    def arm(self, plan: Reconnect | None, conns: Sequence[Conn]) -> None:
        self.plan = plan
        if plan is not None:
            for conn in conns:
                origin = conn.spec.origin
                conn.home = next(
                    (i for i, (_, o) in enumerate(plan.servers) if o == origin), conn.spec.index
                )

    def start(self, conn: Conn) -> None:
        conn.reconnecting = True
        task = asyncio.get_running_loop().create_task(self._reconnect(conn))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    async def _reconnect(self, conn: Conn) -> None:
        """Reconnect as the page does (backoff above) through a balancer, resume after
        the highest seq this connection received, then resend every unacknowledged send
        (same client_id)."""
        plan = self.plan
        assert plan is not None  # noqa: S101 - only started when armed
        worker = self.worker
        dropped = time.monotonic_ns()
        restart = conn.close_code == CLOSE_SERVICE_RESTART
        spread = restart_spread(conn.close_reason) if restart else 0.0
        tries = 0  # attempts spread over the restart's window
        backoff = 0  # attempts with exponential backoff (the page's `attempt`)
        back = 0
        attempt = 0
        try:
            for attempt in range(plan.max_attempts):  # noqa: B007 - counted in finally
                if restart and tries <= RESTART_TRIES:
                    delay = RESTART_MIN_S + random.random() * spread  # noqa: S311 - jitter
                    tries += 1
                else:
                    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**backoff)
                    delay = random.random() * ceiling  # noqa: S311 - jitter, not crypto
                    backoff += 1
                await asyncio.sleep(delay)
                if worker.closing or time.monotonic_ns() > plan.until_ns:
                    break
                if await self._attempt(conn, plan):
                    back = time.monotonic_ns()
                    break
        finally:
            conn.reconnecting = False
            self.events.append((dropped, back, attempt + 1))
        if back and conn.disconnected and not worker.closing:
            self.start(conn)  # dropped again right after its hello

    async def _attempt(self, conn: Conn, plan: Reconnect) -> bool:
        """One reconnect through a balancer in front of every process (nginx with
        `proxy_next_upstream error http_503`): a process at random first; one that
        refuses the connection or answers 503 (stopping, starting) passes the attempt on
        to the next. A timeout or a close ends the attempt. True once resumed."""
        count = len(plan.servers)
        first = random.randrange(count)  # noqa: S311 - round robin, seen from one client
        path = urlsplit(conn.spec.url).path
        for step in range(count):
            ws, origin = plan.servers[(first + step) % count]
            after = max(conn.last_seq.values(), default=0)
            conn.transport, conn.disconnected, conn.close_code = None, False, None
            conn.hello = asyncio.get_running_loop().create_future()
            conn.resumes += 1
            try:
                await conn.open(f"{ws}{path}?after={after}", origin, HELLO_TIMEOUT_S)
            except Exception as error:  # refused, closed, timed out
                conn.resumes -= 1
                conn.retrieve_hello_error()
                if conn.transport is not None and not conn.disconnected:
                    conn.transport.disconnect()
                conn.disconnected = True
                if _passed_on(error):
                    self.passed_on += 1
                    continue
                return False
            transport = conn.transport
            for payload in list(conn.unacked.values()):
                if transport is not None:
                    transport.send(picows.WSMsgType.TEXT, payload)
                    self.resent += 1
            return True
        return False
