"""One phase of a worker: its senders' messages on a fixed schedule, then the wait for the
deliveries (drain). Open loop: a send never waits for an answer.

Every message body is ``<tag>:<sender>:<n>:<scheduled_ns>``: the phase's tag, the sender
slot, the sender's counter and the time the message was *scheduled* to be sent
(CLOCK_MONOTONIC, shared by all processes). Senders follow a fixed schedule, so a slow
server shows up as latency instead of being hidden by a slower send rate (no coordinated
omission); bench/loadgen_receive.py checks and times what arrives.
"""

import asyncio
import contextlib
import time
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import picows

from bench.loadgen_conn import Conn
from bench.loadgen_receive import PhaseTally
from bench.loadgen_specs import PhaseSpec, sends_per_sender
from bench.loadgen_summary import cpu_seconds

if TYPE_CHECKING:
    from bench.loadgen_worker import Worker


def schedule(
    conns: Sequence[Conn], phase: PhaseSpec, t0_ns: int, total_senders: int
) -> list[tuple[int, Conn, int, int]]:
    """(due ns, connection, sender slot, n) of every send of these connections, by due
    time; the senders' slots spread their sends evenly over each period."""
    count = sends_per_sender(phase)
    period_ns = 1e9 / phase.rate_per_sender
    items: list[tuple[int, Conn, int, int]] = []
    for conn in conns:
        slot = conn.spec.sender
        if slot is None or conn.transport is None or conn.disconnected:
            continue
        offset = int(period_ns * slot / max(total_senders, 1))
        items.extend((t0_ns + offset + int(n * period_ns), conn, slot, n) for n in range(count))
    items.sort(key=lambda item: item[0])
    return items


async def run_phase(worker: "Worker", spec: PhaseSpec, t0_ns: int) -> dict[str, Any]:
    """Worker.run_phase's work: send this worker's share of the phase from t0_ns on, then
    drain; report."""
    count = sends_per_sender(spec)
    receiver = worker.receiver
    reconnector = worker.reconnector  # its plan is read per send: it may be armed mid-phase
    receivers = [
        c
        for c in worker.conns
        if c.hello.done() and not c.hello.cancelled() and c.hello.exception() is None
    ]  # a hello that timed out at the first connect was cancelled
    by_server: dict[str, array[int]] = {}
    for conn in worker.conns:
        conn.seen, conn.last_n, conn.received = {}, {}, 0
        conn.expected = count * sum(worker.senders_in_room[r] for r in conn.spec.receives)
        conn.lat_us = by_server.setdefault(conn.spec.origin, array("q"))
    live = [c for c in receivers if c.expected > 0]
    planned_expected = sum(c.expected for c in worker.conns)
    phase = PhaseTally(spec, len(live))
    receiver.phase = phase
    cpu0 = cpu_seconds()
    late0, disc0 = receiver.late, worker.unexpected_disconnects
    items = schedule(worker.conns, spec, t0_ns, worker.total_senders)
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
            payload = b'{"type":"message.send",%s"body":"%s:%d:%d:%d","client_id":"%s-%d-%d"}' % (
                conn.room_field,
                tag,
                slot,
                n,
                due,
                tag,
                slot,
                n,
            )
            transport = conn.transport
            if reconnector.plan is not None:
                # kept until acknowledged; resent (same client_id) after a reconnect
                conn.unacked[b"%s-%d-%d" % (tag, slot, n)] = payload
            # While reconnecting, a new socket may be open before its hello: a send on it
            # would overtake the unacknowledged ones resent after the hello, as the
            # page's outbox never lets it (they are saved, and so seen, in send order).
            if transport is None or conn.disconnected or conn.reconnecting:
                if reconnector.plan is not None:
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
    receiver.phase = None
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
        "not_connected_receivers": len(worker.conns) - len(receivers),
        "late": receiver.late - late0,
        "disconnects": worker.unexpected_disconnects - disc0,
        "cpu_s": cpu_seconds() - cpu0,
    }
