"""Open-loop WebSocket load generator for the chat protocol and the tutorial baseline.

Clients are picows connections (the cheapest Python client per received frame, see
docs/performance.md) on uvloop, optionally spread over several worker processes.

Every message body is ``<tag>:<sender>:<n>:<scheduled_ns>``: the phase's tag, the sender
slot, the sender's counter and the time the message was *scheduled* to be sent
(CLOCK_MONOTONIC, shared by all processes). Senders follow a fixed schedule and never
wait for an answer, so a slow server shows up as latency instead of being hidden by a
slower send rate (no coordinated omission). Each receiver checks, per phase:

- loss: expected deliveries (every scheduled message of every sender in its room) not
  received when the phase's drain timeout ends;
- duplicates: the same (sender, n) twice;
- order: per sender, n must increase; for the project also ``seq`` must strictly
  increase per room on the connection (checked for every ``message`` frame,
  ``hello.history`` included; on the all-rooms endpoint ``/ws/chat/`` each room's stream
  starts after its ``hello.rooms[].last_seq``).

A client holds one room (``/ws/chat/<slug>/``) or, with ``ClientSpec.rooms``, every room
of an all-rooms connection (``/ws/chat/``); a sender there names its room in
``message.send``.

Latency is ``receive time - scheduled send time`` per delivery.
"""

import asyncio
import contextlib
import json
import math
import multiprocessing
import random
import re
import resource
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import picows

CONNECT_TIMEOUT_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 10.0
PIPE_TIMEOUT_SECONDS = 600.0  # longest any worker command may take
START_DELAY_NS = 300_000_000  # phases start this long after the command, on all workers
READ_BUFFER_BYTES = 4096  # picows' initial per-connection read buffer (grows on demand)
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


HELLO_TIMEOUT_S = 15.0
CLOSE_SERVICE_RESTART = 1012


@dataclass(frozen=True)
class Reconnect:
    """Reconnect every dropped connection, resuming with ``?after=`` (storm scenario).

    Each attempt goes through a balancer in front of ``servers`` (see
    ``Worker._attempt``): a process at random, the next one if it refuses.
    """

    servers: tuple[tuple[str, str], ...]  # (ws base "ws://127.0.0.1:PORT", http origin)
    max_attempts: int = 40
    until_ns: int = 0  # no attempt starts after this CLOCK_MONOTONIC instant


@dataclass(frozen=True)
class ClientSpec:
    index: int
    url: str  # ws://127.0.0.1:PORT/ws/chat/<slug>/ or ws://127.0.0.1:PORT/ws/chat/
    origin: str  # the server's http origin, sent as Origin
    cookie: str | None  # "sessionid=..." for the project; None for the baseline
    room: str  # the room it sends to (and, without `rooms`, the only one it receives)
    sender: int | None = None  # sender slot (0..senders-1 over the whole plan) or None
    rooms: tuple[str, ...] = ()  # all-rooms connection: every room it receives

    @property
    def receives(self) -> tuple[str, ...]:
        return self.rooms or (self.room,)


@dataclass(frozen=True)
class PhaseSpec:
    tag: str  # unique per phase; [A-Za-z0-9]
    duration_s: float
    rate_per_sender: float  # messages/s for every sender
    drain_s: float  # after the last scheduled send, how long to wait for stragglers


def sends_per_sender(phase: PhaseSpec) -> int:
    return max(1, int(phase.duration_s * phase.rate_per_sender))


def sender_count(specs: Iterable[ClientSpec]) -> int:
    return sum(1 for spec in specs if spec.sender is not None)


def asked_deliveries_per_s(specs: Sequence[ClientSpec], phase: PhaseSpec) -> float:
    members: Counter[str] = Counter(room for spec in specs for room in spec.receives)
    senders: Counter[str] = Counter(spec.room for spec in specs if spec.sender is not None)
    return sum(senders[room] * members[room] * phase.rate_per_sender for room in members)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_nofile_limit() -> int:
    """Lift the soft open-files limit to the hard one; many sockets need many fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


_MESSAGE_PREFIXES = (b'{"type":"message",', b'{"type": "message",')
_MESSAGE_TYPE = b'"type":"message",'
_TYPE_WITHIN = 120  # bytes: a "room" field may come before "type"


def parse_message(data: bytes) -> tuple[bytes, int | None, bytes] | None:
    """(room slug or b"", seq or None, body) of a ``message`` frame, without a full JSON
    parse.

    The fast path understands the project's compact frames (``type`` first, or after a
    top-level ``room``) and the baseline's ``json.dumps`` default spacing, for bodies
    without quotes or escapes (every body the generator sends). Anything else returns
    None and is parsed with json.
    """
    if not data.startswith(_MESSAGE_PREFIXES) and not (
        data.startswith(b'{"room":') and data.find(_MESSAGE_TYPE, 0, _TYPE_WITHIN) > 0
    ):
        return None
    room = b""
    at = data.find(b'"room":"')
    if at >= 0:
        end = data.find(b'"', at + 8)
        if end < 0:
            return None
        room = data[at + 8 : end]
    seq: int | None = None
    at = data.find(b'"seq":')
    if at >= 0:
        start = at + 6
        end = start
        while end < len(data) and data[end] in b" 0123456789":
            end += 1
        seq = int(data[start:end])
    at = data.find(b'"body":')
    if at < 0:
        return None
    start = at + 7
    if data[start : start + 1] == b" ":
        start += 1
    if data[start : start + 1] != b'"':
        return None
    end = data.find(b'"', start + 1)
    if end < 0 or data.find(b"\\", start, end) >= 0:
        return None
    return room, seq, data[start + 1 : end]


class _Conn(picows.WSListener):
    """One client connection: its transport and what it has received."""

    def __init__(self, worker: "Worker", spec: ClientSpec) -> None:
        super().__init__()
        self.worker = worker
        self.spec = spec
        self.transport: picows.WSTransport | None = None
        self.hello: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.hello_bytes = 0
        self.hello_rooms = 0
        self.last_seq: dict[bytes, int] = {}  # room slug (b"" if unnamed) -> highest seq
        self.seen: dict[int, set[int]] = {}  # sender -> n received in this phase
        self.last_n: dict[int, int] = {}  # sender -> highest n received in this phase
        self.received = 0  # unique deliveries in this phase
        self.expected = 0
        self.close_code: int | None = None
        self.close_reason = b""
        self.disconnected = False
        self.lat_us: array[int] = array("q")  # this phase's array for this conn's server
        self.unacked: dict[bytes, bytes] = {}  # client_id -> frame, until its ack
        self.reconnecting = False
        self.resumes = 0  # successful reconnects (the next hello is a resumed one)
        self.home = 0  # index of its server in Reconnect.servers
        # all-rooms connections name the room they send to
        self.room_field = b'"room":"%s",' % spec.room.encode() if spec.rooms else b""

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == picows.WSMsgType.TEXT:
            self.worker.on_text(self, frame.get_payload_as_bytes(), time.monotonic_ns())
        elif kind == picows.WSMsgType.CLOSE:
            self.close_code = frame.get_close_code().value
            self.close_reason = frame.get_close_message() or b""
            if not self.hello.done():
                self.hello.set_exception(ConnectionError(f"closed with {self.close_code}"))
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.disconnected = True
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("disconnected before hello"))
        if not self.worker.closing:
            self.worker.unexpected_disconnects += 1
            if self.worker.reconnect is not None and not self.reconnecting:
                self.worker.start_reconnect(self)


class _Phase:
    def __init__(self, spec: PhaseSpec, receivers: int) -> None:
        self.spec = spec
        self.tag = spec.tag.encode()
        self.lat_us = array("q")
        self.lat_by_server: dict[str, array[int]] = {}  # receiving server's origin -> lat_us
        self.received = 0
        self.dups = 0
        self.sender_order_violations = 0
        self.seq_violations = 0
        self.foreign = 0
        self.first_recv_ns = 0
        self.last_recv_ns = 0
        self.pending_receivers = receivers
        self.done = asyncio.Event()
        if receivers == 0:
            self.done.set()


class Worker:
    """The clients of one process. Drive it directly (tests) or through LoadGenerator."""

    def __init__(self, specs: Sequence[ClientSpec], mine: Sequence[int] | None = None) -> None:
        self.specs = list(specs)
        owned = range(len(self.specs)) if mine is None else mine
        self.conns = [_Conn(self, self.specs[i]) for i in owned]
        self.senders_in_room: Counter[str] = Counter(
            spec.room for spec in self.specs if spec.sender is not None
        )
        self.total_senders = sender_count(self.specs)
        self.phase: _Phase | None = None
        self.closing = False
        self.unexpected_disconnects = 0
        self.late = 0  # tagged messages arriving after their phase ended
        self.seq_violations_outside = 0
        self.acks = 0
        self.acked: dict[str, tuple[int, str, str]] = {}  # client_id -> (seq, room, body)
        self.reconnect: Reconnect | None = None
        self.reconnect_tasks: set[asyncio.Task[None]] = set()
        # (dropped at, back at or 0, attempts) per drop, CLOCK_MONOTONIC ns
        self.reconnect_events: list[tuple[int, int, int]] = []
        self.resumed_incomplete = 0
        self.resent = 0
        self.passed_on = 0  # reconnect attempts a refusing process passed to the next
        self.errors: Counter[str] = Counter()
        self.other_frames: Counter[str] = Counter()
        self.bad_frames = 0

    # --- receiving -------------------------------------------------------------------

    def on_text(self, conn: _Conn, data: bytes, now: int) -> None:
        parsed = parse_message(data)
        if parsed is None:
            self._on_other(conn, data, now)
            return
        self._on_message(conn, *parsed, now)

    def _seq_ok(self, conn: _Conn, room: bytes, seq: int | None) -> bool:
        """Advance the connection's seq of the room; False if seq did not increase."""
        if seq is None:
            return True
        if seq <= conn.last_seq.get(room, 0):
            return False
        conn.last_seq[room] = seq
        return True

    def _on_message(self, conn: _Conn, room: bytes, seq: int | None, body: bytes, now: int) -> None:
        phase = self.phase
        parts = body.split(b":")
        if phase is None or len(parts) != 4 or parts[0] != phase.tag:
            self.late += 1
            if not self._seq_ok(conn, room, seq):
                if phase is not None:
                    phase.seq_violations += 1
                else:
                    self.seq_violations_outside += 1
            return
        sender, n = int(parts[1]), int(parts[2])
        seen = conn.seen.get(sender)
        if seen is None:
            seen = conn.seen[sender] = set()
        if n in seen:
            phase.dups += 1
            return
        seen.add(n)
        if not self._seq_ok(conn, room, seq):
            phase.seq_violations += 1
        if n < conn.last_n.get(sender, -1):
            phase.sender_order_violations += 1
        else:
            conn.last_n[sender] = n
        latency = (now - int(parts[3])) // 1000
        phase.lat_us.append(latency)
        conn.lat_us.append(latency)
        phase.received += 1
        if not phase.first_recv_ns:
            phase.first_recv_ns = now
        phase.last_recv_ns = now
        conn.received += 1
        if conn.received == conn.expected:
            phase.pending_receivers -= 1
            if phase.pending_receivers == 0:
                phase.done.set()

    def _on_other(self, conn: _Conn, data: bytes, now: int) -> None:
        try:
            frame = json.loads(data)
            kind = frame["type"]
        except (ValueError, KeyError, TypeError):
            self.bad_frames += 1
            return
        if kind == "hello":
            conn.hello_bytes = len(data)
            rooms = frame.get("rooms")
            if isinstance(rooms, list):  # all-rooms: each stream starts after last_seq
                conn.hello_rooms = len(rooms)
                for entry in rooms:
                    slug = str(entry["slug"]).encode()
                    conn.last_seq[slug] = max(conn.last_seq.get(slug, 0), int(entry["last_seq"]))
            if conn.resumes:
                # A resumed hello: its history is the messages missed while away, and
                # they count like live ones (loss, duplicates, order, latency).
                resumed = frame.get("resumed")
                if isinstance(resumed, dict) and not resumed.get("complete", True):
                    self.resumed_incomplete += 1
                for message in frame.get("history") or []:
                    body = message.get("body")
                    stream = str(message.get("room", "")).encode()
                    if isinstance(body, str):
                        self._on_message(conn, stream, message.get("seq"), body.encode(), now)
            for message in [] if conn.resumes else frame.get("history") or []:
                slug = str(message.get("room", "")).encode()
                conn.last_seq[slug] = max(conn.last_seq.get(slug, 0), int(message["seq"]))
            if not conn.hello.done():
                conn.hello.set_result(None)
        elif kind == "message":  # a shape the fast path does not parse
            message = frame["message"]
            room = frame.get("room", message.get("room", ""))
            if not isinstance(room, str):
                room = ""
            seq = message.get("seq")
            body = message.get("body")
            if isinstance(body, str):
                self._on_message(conn, room.encode(), seq, body.encode(), now)
            else:
                self.late += 1
        elif kind == "ack":
            self.acks += 1
            client_id = str(frame.get("client_id", ""))
            conn.unacked.pop(client_id.encode(), None)
            message = frame.get("message") or {}
            self.acked[client_id] = (
                int(message.get("seq", 0)),
                str(message.get("room", conn.spec.room)),
                str(message.get("body", "")),
            )
        elif kind == "error":
            self.errors[str(frame.get("code"))] += 1
        else:  # e.g. presence: counted, otherwise ignored
            self.other_frames[str(kind)] += 1

    # --- connecting ------------------------------------------------------------------

    async def connect(
        self,
        concurrency: int,
        timeout_s: float = CONNECT_TIMEOUT_SECONDS,
        budget_s: float | None = None,
    ) -> dict[str, Any]:
        """Open every connection (at most `concurrency` handshakes at once) and wait for
        each one's first frame (`hello`). With `budget_s`, no handshake starts after that
        many seconds (those connections are reported as not attempted)."""
        gate = asyncio.Semaphore(concurrency)
        durations = array("q")
        hello_bytes = array("q")
        hello_rooms = array("q")
        failures: Counter[str] = Counter()
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        stop_at = wall0 + budget_s if budget_s is not None else math.inf
        skipped = 0
        last_done = wall0

        async def one(conn: _Conn) -> None:
            nonlocal skipped, last_done
            headers = {"Origin": conn.spec.origin}
            if conn.spec.cookie:
                headers["Cookie"] = conn.spec.cookie
            async with gate:
                if time.monotonic() > stop_at:
                    skipped += 1
                    return
                started = time.monotonic_ns()
                try:
                    await picows.ws_connect(
                        lambda: conn,
                        conn.spec.url,
                        extra_headers=headers,
                        websocket_handshake_timeout=timeout_s,
                        read_buffer_init_size=READ_BUFFER_BYTES,
                        max_redirects=0,
                    )
                    await asyncio.wait_for(conn.hello, timeout_s)
                except Exception as error:  # counted and reported, never fatal
                    failures[f"{type(error).__name__}: {error}"[:120]] += 1
                    if conn.hello.done() and not conn.hello.cancelled():
                        conn.hello.exception()  # retrieved: no "never retrieved" warning
                    if conn.transport is not None:
                        conn.transport.disconnect()
                    return
                durations.append((time.monotonic_ns() - started) // 1000)
                hello_bytes.append(conn.hello_bytes)
                hello_rooms.append(conn.hello_rooms)
                last_done = time.monotonic()

        await asyncio.gather(*(one(conn) for conn in self.conns))
        return {
            "attempted": len(self.conns) - skipped,
            "connected": len(durations),
            "failures": dict(failures),
            "connect_us": durations,
            "hello_bytes": hello_bytes,
            "hello_rooms": hello_rooms,
            # until the last successful hello: a straggler's timeout is not connect time
            "wall_s": last_done - wall0,
            "cpu_s": cpu_seconds() - cpu0,
        }

    # --- reconnecting (storm) ---------------------------------------------------------

    def start_reconnect(self, conn: _Conn) -> None:
        conn.reconnecting = True
        task = asyncio.get_running_loop().create_task(self._reconnect(conn))
        self.reconnect_tasks.add(task)
        task.add_done_callback(self.reconnect_tasks.discard)

    async def _reconnect(self, conn: _Conn) -> None:
        """Reconnect as the page does (backoff above) through a balancer, resume after
        the highest seq this connection received, then resend every unacknowledged send
        (same client_id)."""
        plan = self.reconnect
        assert plan is not None  # noqa: S101 - only started when armed
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
                if self.closing or time.monotonic_ns() > plan.until_ns:
                    break
                if await self._attempt(conn, plan):
                    back = time.monotonic_ns()
                    break
        finally:
            conn.reconnecting = False
            self.reconnect_events.append((dropped, back, attempt + 1))
        if back and conn.disconnected and not self.closing:
            self.start_reconnect(conn)  # dropped again right after its hello

    async def _attempt(self, conn: _Conn, plan: Reconnect) -> bool:
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
            headers = {"Origin": origin}
            if conn.spec.cookie:
                headers["Cookie"] = conn.spec.cookie
            try:
                await picows.ws_connect(
                    lambda: conn,
                    f"{ws}{path}?after={after}",
                    extra_headers=headers,
                    websocket_handshake_timeout=HELLO_TIMEOUT_S,
                    read_buffer_init_size=READ_BUFFER_BYTES,
                    max_redirects=0,
                )
                await asyncio.wait_for(conn.hello, HELLO_TIMEOUT_S)
            except Exception as error:  # refused, closed, timed out
                conn.resumes -= 1
                if conn.hello.done() and not conn.hello.cancelled():
                    conn.hello.exception()
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

    # --- a phase ---------------------------------------------------------------------

    def _schedule(self, phase: PhaseSpec, t0_ns: int) -> list[tuple[int, _Conn, int, int]]:
        count = sends_per_sender(phase)
        period_ns = 1e9 / phase.rate_per_sender
        items: list[tuple[int, _Conn, int, int]] = []
        for conn in self.conns:
            slot = conn.spec.sender
            if slot is None or conn.transport is None or conn.disconnected:
                continue
            offset = int(period_ns * slot / max(self.total_senders, 1))
            items.extend((t0_ns + offset + int(n * period_ns), conn, slot, n) for n in range(count))
        items.sort(key=lambda item: item[0])
        return items

    async def run_phase(self, spec: PhaseSpec, t0_ns: int) -> dict[str, Any]:
        """Send this worker's share of the phase from t0_ns on, then drain; report."""
        count = sends_per_sender(spec)
        receivers = [
            c
            for c in self.conns
            if c.hello.done() and not c.hello.cancelled() and c.hello.exception() is None
        ]  # a hello that timed out at the first connect was cancelled
        by_server: dict[str, array[int]] = {}
        for conn in self.conns:
            conn.seen, conn.last_n, conn.received = {}, {}, 0
            conn.expected = count * sum(self.senders_in_room[r] for r in conn.spec.receives)
            conn.lat_us = by_server.setdefault(conn.spec.origin, array("q"))
        live = [c for c in receivers if c.expected > 0]
        planned_expected = sum(c.expected for c in self.conns)
        phase = _Phase(spec, len(live))
        self.phase = phase
        cpu0 = cpu_seconds()
        late0, disc0 = self.late, self.unexpected_disconnects
        items = self._schedule(spec, t0_ns)
        sent = failed = deferred = 0
        lag_us = array("q")
        tag = spec.tag.encode()
        index = 0
        await asyncio.sleep(max(t0_ns - time.monotonic_ns(), 0) / 1e9)
        while index < len(items):  # bounded: every pass sends or sleeps until the next due
            now = time.monotonic_ns()
            due = items[index][0]
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                continue
            while index < len(items) and items[index][0] <= now:
                due, conn, slot, n = items[index]
                index += 1
                payload = (
                    b'{"type":"message.send",%s"body":"%s:%d:%d:%d","client_id":"%s-%d-%d"}'
                    % (
                        conn.room_field,
                        tag,
                        slot,
                        n,
                        due,
                        tag,
                        slot,
                        n,
                    )
                )
                transport = conn.transport
                if self.reconnect is not None:
                    # kept until acknowledged; resent (same client_id) after a reconnect
                    conn.unacked[b"%s-%d-%d" % (tag, slot, n)] = payload
                if transport is None or conn.disconnected:
                    if self.reconnect is not None:
                        deferred += 1  # sent when its connection is back
                    else:
                        failed += 1
                    continue
                try:
                    transport.send(picows.WSMsgType.TEXT, payload)
                except Exception:  # a broken connection: its receivers will see loss
                    failed += 1
                    continue
                sent += 1
                lag_us.append((now - due) // 1000)
        last_due = items[-1][0] if items else t0_ns + int(spec.duration_s * 1e9)
        end_of_sends = max(last_due, t0_ns + int(spec.duration_s * 1e9))
        remaining = (end_of_sends - time.monotonic_ns()) / 1e9 + spec.drain_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(phase.done.wait(), max(remaining, 0.0))
        self.phase = None
        return {
            "planned_sends": len(items),
            "sent": sent,
            "send_failures": failed,
            "send_deferred": deferred,
            "send_lag_us": lag_us,
            "expected": planned_expected,
            "received": phase.received,
            "dups": phase.dups,
            "sender_order_violations": phase.sender_order_violations,
            "seq_violations": phase.seq_violations,
            "lat_us": phase.lat_us,
            "lat_by_server": by_server,
            "first_recv_ns": phase.first_recv_ns,
            "last_recv_ns": phase.last_recv_ns,
            "incomplete_receivers": phase.pending_receivers,
            "not_connected_receivers": len(self.conns) - len(receivers),
            "late": self.late - late0,
            "disconnects": self.unexpected_disconnects - disc0,
            "cpu_s": cpu_seconds() - cpu0,
        }

    def counters(self) -> dict[str, Any]:
        return {
            "acks": self.acks,
            "errors": dict(self.errors),
            "other_frames": dict(self.other_frames),
            "bad_frames": self.bad_frames,
            "late": self.late,
            "seq_violations_outside_phases": self.seq_violations_outside,
            "unexpected_disconnects": self.unexpected_disconnects,
            "open": sum(1 for c in self.conns if c.transport is not None and not c.disconnected),
            "reconnects": sum(1 for e in self.reconnect_events if e[1]),
            "reconnect_gave_up": sum(1 for e in self.reconnect_events if not e[1]),
            "reconnect_events": list(self.reconnect_events),
            # still reconnecting or down: not in reconnect_events (recorded when done)
            "down": sum(1 for c in self.conns if c.reconnecting or c.disconnected),
            "resumed_incomplete": self.resumed_incomplete,
            "resent": self.resent,
            "passed_on": self.passed_on,
            "unacked": sum(len(c.unacked) for c in self.conns),
        }

    def arm_reconnect(self, plan: Reconnect | None) -> None:
        self.reconnect = plan
        if plan is not None:
            for conn in self.conns:
                origin = conn.spec.origin
                conn.home = next(
                    (i for i, (_, o) in enumerate(plan.servers) if o == origin), conn.spec.index
                )

    async def close(self) -> dict[str, Any]:
        self.closing = True
        for task in list(self.reconnect_tasks):
            task.cancel()
        transports = [
            c.transport for c in self.conns if c.transport is not None and not c.disconnected
        ]
        for transport in transports:
            with contextlib.suppress(Exception):
                transport.send_close(picows.WSCloseCode.OK)

        async def wait(transport: picows.WSTransport) -> None:
            try:
                await asyncio.wait_for(transport.wait_disconnected(), CLOSE_TIMEOUT_SECONDS)
            except TimeoutError:
                transport.disconnect(graceful=False)

        await asyncio.gather(*(wait(transport) for transport in transports))
        return self.counters()


# --- several worker processes ------------------------------------------------------------


def _worker_main(pipe: Connection, specs: list[ClientSpec], mine: list[int], uvloop_: bool) -> None:
    raise_nofile_limit()
    if uvloop_:
        import uvloop

        uvloop.run(_serve(pipe, specs, mine))
    else:
        asyncio.run(_serve(pipe, specs, mine))


async def _serve(pipe: Connection, specs: list[ClientSpec], mine: list[int]) -> None:
    worker = Worker(specs, mine)
    loop = asyncio.get_running_loop()
    for _ in range(1_000_000):  # bounded; a "quit" ends it
        command = await loop.run_in_executor(None, pipe.recv)
        kind = command[0]
        if kind == "connect":
            pipe.send(await worker.connect(command[1], command[2], command[3]))
        elif kind == "phase":
            pipe.send(await worker.run_phase(command[1], command[2]))
        elif kind == "counters":
            pipe.send(worker.counters())
        elif kind == "reconnect":
            worker.arm_reconnect(command[1])
            pipe.send(None)
        elif kind == "close":
            pipe.send(await worker.close())
        else:
            pipe.send(None)
            return


class LoadGenerator:
    """Worker processes holding `specs` between them (round-robin), driven in lock step."""

    def __init__(
        self, specs: Sequence[ClientSpec], processes: int = 1, uvloop_: bool = True
    ) -> None:
        self.specs = list(specs)
        context = multiprocessing.get_context("spawn")  # no inherited loop or sockets
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.pipes: list[Connection] = []
        count = max(1, min(processes, len(self.specs)))
        for index in range(count):
            mine = list(range(index, len(self.specs), count))
            parent, child = context.Pipe()
            proc = context.Process(
                target=_worker_main,
                args=(child, self.specs, mine, uvloop_),
                name=f"loadgen-{index}",
                daemon=True,
            )
            proc.start()
            child.close()
            self.processes.append(proc)
            self.pipes.append(parent)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.processes if proc.pid is not None]

    def _all(self, command: tuple[Any, ...], timeout_s: float = PIPE_TIMEOUT_SECONDS) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(command)
        answers = []
        deadline = time.monotonic() + timeout_s
        for pipe, proc in zip(self.pipes, self.processes, strict=True):
            while not pipe.poll(0.2):
                if not proc.is_alive():
                    raise RuntimeError(f"{proc.name} died (exit {proc.exitcode})")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{proc.name} did not answer {command[0]!r}")
            answers.append(pipe.recv())
        return answers

    def connect(
        self,
        concurrency: int = 32,
        timeout_s: float = CONNECT_TIMEOUT_SECONDS,
        budget_s: float | None = None,
    ) -> dict[str, Any]:
        per_worker = max(1, concurrency // len(self.pipes))
        reports = self._all(("connect", per_worker, timeout_s, budget_s))
        return merge_connects(reports, max(r["wall_s"] for r in reports))

    def run_phase(self, phase: PhaseSpec) -> dict[str, Any]:
        t0 = time.monotonic_ns() + START_DELAY_NS
        reports = self._all(("phase", phase, t0))
        return summarize_phase(self.specs, phase, t0, reports)

    def counters(self) -> dict[str, Any]:
        return merge_counters(self._all(("counters",)))

    def arm_reconnect(self, plan: Reconnect | None) -> None:
        self._all(("reconnect", plan))

    def close(self) -> dict[str, Any]:
        return merge_counters(self._all(("close",)))

    def stop(self) -> None:
        for pipe, proc in zip(self.pipes, self.processes, strict=True):
            if proc.is_alive():
                with contextlib.suppress(OSError):
                    pipe.send(("quit",))
        for proc in self.processes:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)

    def __enter__(self) -> "LoadGenerator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- merging and statistics -----------------------------------------------------------


def percentile(sorted_values: Sequence[int], pct: float) -> int:
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def distribution_ms(values_us: Iterable[int]) -> dict[str, float | None]:
    ordered = sorted(values_us)
    if not ordered:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 50) / 1000,
        "p90": percentile(ordered, 90) / 1000,
        "p99": percentile(ordered, 99) / 1000,
        "max": ordered[-1] / 1000,
        "mean": round(sum(ordered) / len(ordered) / 1000, 3),
    }


def distribution(values: Iterable[int]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "min": None, "p50": None, "max": None, "mean": None}
    return {
        "count": len(ordered),
        "min": ordered[0],
        "p50": percentile(ordered, 50),
        "max": ordered[-1],
        "mean": round(sum(ordered) / len(ordered), 1),
    }


def merge_connects(reports: Sequence[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    failures: Counter[str] = Counter()
    durations: list[int] = []
    hello_bytes: list[int] = []
    hello_rooms: list[int] = []
    for report in reports:
        failures.update(report["failures"])
        durations.extend(report["connect_us"])
        hello_bytes.extend(report.get("hello_bytes", ()))
        hello_rooms.extend(report.get("hello_rooms", ()))
    connected = sum(r["connected"] for r in reports)
    cpu = sum(r["cpu_s"] for r in reports)
    return {
        "attempted": sum(r["attempted"] for r in reports),
        "connected": connected,
        "failures": dict(failures),
        "wall_s": round(wall_s, 3),
        "connects_per_s": round(connected / wall_s, 1) if wall_s > 0 else 0.0,
        "connect_ms": distribution_ms(durations),
        "hello_bytes": distribution(hello_bytes),
        "hello_rooms": distribution(hello_rooms),
        "generator_cpu_s": round(cpu, 3),
    }


def merge_counters(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for report in reports:
        for key, value in report.items():
            if isinstance(value, dict):
                merged[key] = dict(Counter(merged.get(key, {})) + Counter(value))
            elif isinstance(value, list):
                merged[key] = [*merged.get(key, []), *value]
            else:
                merged[key] = merged.get(key, 0) + value
    return merged


def summarize_phase(
    specs: Sequence[ClientSpec], phase: PhaseSpec, t0_ns: int, reports: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """One phase's figures over all workers."""
    latencies: list[int] = []
    lags: list[int] = []
    by_server: dict[str, list[int]] = {}
    for report in reports:
        latencies.extend(report["lat_us"])
        for origin, values in report["lat_by_server"].items():
            by_server.setdefault(origin, []).extend(values)
        lags.extend(report["send_lag_us"])

    def total(key: str) -> int:
        return int(sum(r[key] for r in reports))

    expected, received = total("expected"), total("received")
    last_recv = max((r["last_recv_ns"] for r in reports), default=0)
    span_s = max(phase.duration_s, (last_recv - t0_ns) / 1e9)
    cpu = sum(r["cpu_s"] for r in reports)
    return {
        "tag": phase.tag,
        "duration_s": phase.duration_s,
        "rate_per_sender": phase.rate_per_sender,
        "senders": sender_count(specs),
        "clients": len(specs),
        "send_rate_per_s": round(sender_count(specs) * phase.rate_per_sender, 1),
        "asked_deliveries_per_s": round(asked_deliveries_per_s(specs, phase), 1),
        "achieved_deliveries_per_s": round(received / span_s, 1) if received else 0.0,
        "planned_sends": total("planned_sends"),
        "sent": total("sent"),
        "send_failures": total("send_failures"),
        "send_deferred": total("send_deferred"),
        "expected": expected,
        "received": received,
        "loss": expected - received,
        "loss_pct": round(100 * (expected - received) / expected, 4) if expected else 0.0,
        "dups": total("dups"),
        "sender_order_violations": total("sender_order_violations"),
        "seq_violations": total("seq_violations"),
        "late": total("late"),
        "incomplete_receivers": total("incomplete_receivers"),
        "not_connected_receivers": total("not_connected_receivers"),
        "disconnects": total("disconnects"),
        "latency_ms": distribution_ms(latencies),
        # by the receiving process: one slow process shows here, not in the totals
        "latency_ms_by_server": {o: distribution_ms(v) for o, v in sorted(by_server.items())},
        "send_lag_ms": distribution_ms(lags),
        "generator_cpu_s": round(cpu, 3),
        "generator_us_per_delivery": round(cpu / received * 1e6, 2) if received else None,
        "generator_processes": len(reports),
    }


async def run_inline(
    specs: Sequence[ClientSpec],
    phases: Sequence[PhaseSpec],
    concurrency: int = 32,
    acked: dict[str, tuple[int, str, str]] | None = None,
    linger_s: float = 0.0,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Everything in the running event loop (no worker processes): connect, run each
    phase, close. Returns (connect summary, phase summaries, counters); `acked`, if
    given, is filled with every acknowledged client_id -> (seq, room, body). A phase
    ends at its last delivery, which can come before the sender's ack: `linger_s` keeps
    the connections open that much longer before closing them."""
    worker = Worker(specs)
    if acked is not None:
        worker.acked = acked
    report = await worker.connect(concurrency)
    connected = merge_connects([report], report["wall_s"])
    results = []
    try:
        for phase in phases:
            t0 = time.monotonic_ns() + START_DELAY_NS
            report = await worker.run_phase(phase, t0)
            results.append(summarize_phase(specs, phase, t0, [report]))
        await asyncio.sleep(linger_s)
    finally:
        counters = await worker.close()
    return connected, results, counters
