"""The load of bench/hooks.py: incoming-hook POSTs (aiohttp, one pooled session) and a
room's sockets (aiohttp WebSockets): listeners that record every message's arrival, some
of which are also people sending at a modest rate.

Every posted text and every sent body is ``<word> <source> <n> <scheduled_ns>``: the
word is ``hb<tag>`` (a hook's post) or ``ps<tag>`` (a person's message), the tag the
phase's; source the hook or the sender; n its counter; scheduled_ns the instant it was
due (CLOCK_MONOTONIC). Both schedules are open-loop: a request or a message goes out when
it is due whatever the answers before it, so a slow server shows as latency, not as a
lower rate. Latency is ``arrival on a socket - due``; the HTTP answer's, ``answer - due``.
"""

import asyncio
import contextlib
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

HTTP_TIMEOUT_S = 10.0
HELLO_TIMEOUT_S = 15.0
START_DELAY_NS = 300_000_000  # a phase starts this long after it is set up
# The message object's body, compact or spaced JSON; a frame may carry several.
BODY = re.compile(r'"body": ?"(?P<word>(?:hb|ps)[0-9a-f]{6}) (\d+) (\d+) (\d+)"')

Key = tuple[str, int, int]  # (word, source, n)


@dataclass(frozen=True)
class Target:
    http: str  # http://127.0.0.1:PORT
    ws: str  # ws://127.0.0.1:PORT


@dataclass
class Traffic:
    """What one phase sent and what came back."""

    tag: str
    hook_due: dict[Key, int] = field(default_factory=dict)  # every hook request sent
    hook_ok: set[Key] = field(default_factory=set)  # answered 200
    http_ms: list[float] = field(default_factory=list)  # due -> answer read, every answer
    answers: Counter[str] = field(default_factory=Counter)  # "status body" -> count
    failures: Counter[str] = field(default_factory=Counter)  # no answer: exception name
    person_due: dict[Key, int] = field(default_factory=dict)  # every message sent
    late_ms: float = 0.0  # how far behind its schedule the generator fell, at most

    def late(self, due: int) -> None:
        self.late_ms = max(self.late_ms, (time.monotonic_ns() - due) / 1e6)


class Room:
    """The sockets of one room, and every arrival of a bench message on them."""

    def __init__(self) -> None:
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.arrivals: dict[Key, dict[int, int]] = {}  # key -> listener -> first arrival
        self.duplicates: Counter[str] = Counter()  # word -> repeats on one listener
        self.errors: Counter[str] = Counter()  # error frames' codes
        self.readers: list[asyncio.Task[None]] = []

    async def connect(
        self, session: aiohttp.ClientSession, targets: list[Target], slug: str, cookies: list[str]
    ) -> None:
        """One socket per session cookie, on targets in turn; each waits for its hello."""
        for index, cookie in enumerate(cookies):
            target = targets[index % len(targets)]
            ws = await session.ws_connect(
                f"{target.ws}/ws/chat/{slug}/",
                headers={"Origin": target.http, "Cookie": f"sessionid={cookie}"},
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                max_msg_size=0,
            )
            first = await ws.receive(timeout=HELLO_TIMEOUT_S)
            if first.type != aiohttp.WSMsgType.TEXT or not first.data.startswith('{"type":"hello"'):
                raise RuntimeError(f"socket {index}: no hello but {str(first.data)[:200]}")
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self._read(index, ws)))

    async def _read(self, listener: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        # Ends when the socket closes (close() below, or the server).
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.monotonic_ns()
            data: str = frame.data
            if data.startswith('{"type":"error"'):
                self.errors[str(json.loads(data).get("code"))] += 1
                continue
            if data.startswith('{"type":"ack"'):
                continue  # the sender's own answer, not a delivery
            for match in BODY.finditer(data):
                word, source, n = match["word"], int(match[2]), int(match[3])
                if word.startswith("ps") and source == listener:
                    continue  # a person's own message on their own socket
                seen = self.arrivals.setdefault((word, source, n), {})
                if listener in seen:
                    self.duplicates[word] += 1
                else:
                    seen[listener] = now

    async def close(self) -> None:
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)

    def complete(self, keys: list[Key], listeners: int, own: bool) -> bool:
        """Have all these messages reached every listener (but their sender when own)?"""
        want = listeners - 1 if own else listeners
        return all(len(self.arrivals.get(key, ())) >= want for key in keys)


async def _post(
    session: aiohttp.ClientSession, url: str, key: Key, due: int, traffic: Traffic
) -> None:
    body = json.dumps({"text": f"{key[0]} {key[1]} {key[2]} {due}"}).encode()
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError) as error:
        traffic.failures[type(error).__name__] += 1
        return
    traffic.http_ms.append((time.monotonic_ns() - due) / 1e6)
    traffic.answers[f"{response.status} {text[:40]}"] += 1
    if response.status == 200:
        traffic.hook_ok.add(key)


async def post_hooks(
    session: aiohttp.ClientSession,
    urls: list[list[str]],
    rate: float,
    seconds: float,
    t0: int,
    traffic: Traffic,
) -> None:
    """Every hook posts at rate/len(urls) per second, the hooks' posts interleaved so
    the total is an even `rate`; urls[h][s] is hook h's URL on server s, and a hook
    alternates servers (as a balancer would spread one tool's requests)."""
    hooks, servers = len(urls), len(urls[0])
    total = int(rate * seconds)
    pending: set[asyncio.Task[None]] = set()
    word = f"hb{traffic.tag}"
    for k in range(total):
        due = t0 + int(k * 1e9 / rate)
        delay = (due - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        traffic.late(due)
        hook, n = k % hooks, k // hooks
        key = (word, hook, n)
        traffic.hook_due[key] = due
        task = asyncio.create_task(
            _post(session, urls[hook][(hook + n) % servers], key, due, traffic)
        )
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=HTTP_TIMEOUT_S + 5)


async def send_people(
    room: Room, senders: int, rate_each: float, seconds: float, t0: int, traffic: Traffic
) -> None:
    """Sockets 0..senders-1 each send rate_each messages/s, interleaved."""
    if senders <= 0 or rate_each <= 0:
        return
    rate = senders * rate_each
    word = f"ps{traffic.tag}"
    for k in range(int(rate * seconds)):
        due = t0 + int(k * 1e9 / rate)
        delay = (due - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        traffic.late(due)
        sender, n = k % senders, k // senders
        frame = {
            "type": "message.send",
            "body": f"{word} {sender} {n} {due}",
            "client_id": f"{word}-{sender}-{n}",
        }
        traffic.person_due[(word, sender, n)] = due
        await room.sockets[sender].send_str(json.dumps(frame, separators=(",", ":")))


async def phase(
    session: aiohttp.ClientSession,
    room: Room,
    tag: str,
    *,
    hook_urls: list[list[str]] | None,
    rate: float,
    senders: int,
    sender_rate: float,
    seconds: float,
    drain_s: float,
) -> Traffic:
    """One phase: the people's messages, with the hooks' posts when hook_urls is given;
    then wait (at most drain_s) for every message to reach every listener."""
    traffic = Traffic(tag)
    t0 = time.monotonic_ns() + START_DELAY_NS
    jobs = [send_people(room, senders, sender_rate, seconds, t0, traffic)]
    if hook_urls:
        jobs.append(post_hooks(session, hook_urls, rate, seconds, t0, traffic))
    await asyncio.wait_for(asyncio.gather(*jobs), timeout=seconds + HTTP_TIMEOUT_S + 30)
    listeners = len(room.sockets)
    hooks, people = sorted(traffic.hook_ok), list(traffic.person_due)
    # Polled every 50 ms, at most drain_s: completion is a count over the readers.
    for _ in range(int(drain_s / 0.05) + 1):
        if room.complete(hooks, listeners, own=False) and room.complete(
            people, listeners, own=True
        ):
            break
        await asyncio.sleep(0.05)
    return traffic


def percentiles(values: list[float], shares: dict[str, float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {name: None for name in shares}
    return {
        name: round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)
        for name, share in shares.items()
    }


P50_P99 = {"p50": 0.5, "p99": 0.99}
FULL = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}


def outcome(traffic: Traffic, room: Room) -> dict[str, Any]:
    """The phase's figures: answers, delivery latency, loss and duplicates."""
    listeners = len(room.sockets)
    hook_word, person_word = f"hb{traffic.tag}", f"ps{traffic.tag}"
    hook_lat: list[float] = []
    to_all: list[float] = []  # a hook message's arrival on its last listener
    hook_seen = hook_lost = unanswered_seen = 0
    for key, due in traffic.hook_due.items():
        arrived = room.arrivals.get(key, {})
        hook_seen += len(arrived)
        hook_lat.extend((t - due) / 1e6 for t in arrived.values())
        if key not in traffic.hook_ok:
            unanswered_seen += len(arrived)  # saved although its answer was not a 200
        elif len(arrived) == listeners:
            to_all.append((max(arrived.values()) - due) / 1e6)
        else:
            hook_lost += listeners - len(arrived)
    person_lat: list[float] = []
    person_seen = person_lost = 0
    for key, due in traffic.person_due.items():
        arrived = room.arrivals.get(key, {})
        person_seen += len(arrived)
        person_lost += listeners - 1 - len(arrived)
        person_lat.extend((t - due) / 1e6 for t in arrived.values())
    hooks_expected = len(traffic.hook_ok) * listeners
    people_expected = len(traffic.person_due) * (listeners - 1)
    result: dict[str, Any] = {
        "person": {
            "sent": len(traffic.person_due),
            "deliveries_expected": people_expected,
            "deliveries_seen": person_seen,
            "lost": person_lost,
            "duplicates": room.duplicates[person_word],
            "latency_ms": percentiles(person_lat, P50_P99),
        },
        "generator_late_ms_max": round(traffic.late_ms, 1),
    }
    if traffic.hook_due:
        answered = sum(traffic.answers.values())
        result["hooks"] = {
            "sent": len(traffic.hook_due),
            "answered": answered,
            "ok_200": len(traffic.hook_ok),
            "other_answers": {k: v for k, v in traffic.answers.items() if not k.startswith("200")},
            "no_answer": dict(traffic.failures),
            "http_answer_ms": percentiles(traffic.http_ms, FULL),
            "deliveries_expected": hooks_expected,
            "deliveries_seen": hook_seen,
            "lost": hook_lost,
            "seen_without_200": unanswered_seen,
            "duplicates": room.duplicates[hook_word],
            "delivered_to_every_listener": len(to_all),
            "request_to_delivery_ms": percentiles(hook_lat, FULL),
            "request_to_last_listener_ms": percentiles(to_all, FULL),
        }
    return result
