"""The clients of one process and the commands that drive them (connect, a phase, arm the
reconnects, counters, close); the work itself is in loadgen_connect/_phase/_receive."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import picows

from bench import loadgen_phase
from bench.loadgen_conn import Conn
from bench.loadgen_connect import CONNECT_TIMEOUT_SECONDS, Reconnector, connect_all
from bench.loadgen_receive import Receiver
from bench.loadgen_specs import ClientSpec, PhaseSpec, Reconnect, sender_count

CLOSE_TIMEOUT_SECONDS = 10.0


class Worker:
    """The clients of one process. Drive it directly (tests) or through LoadGenerator."""

    def __init__(self, specs: Sequence[ClientSpec], mine: Sequence[int] | None = None) -> None:
        self.specs = list(specs)
        self.receiver = Receiver()
        self.reconnector = Reconnector(self)
        owned = range(len(self.specs)) if mine is None else mine
        self.conns = [Conn(self, self.specs[i]) for i in owned]
        self.senders_in_room: Counter[str] = Counter(
            spec.room for spec in self.specs if spec.sender is not None
        )
        self.total_senders = sender_count(self.specs)
        self.closing = False
        self.unexpected_disconnects = 0

    async def connect(
        self,
        concurrency: int,
        timeout_s: float = CONNECT_TIMEOUT_SECONDS,
        budget_s: float | None = None,
    ) -> dict[str, Any]:
        """Open every connection (at most `concurrency` handshakes at once) and wait for
        each one's first frame (`hello`). With `budget_s`, no handshake starts after that
        many seconds (those connections are reported as not attempted)."""
        return await connect_all(self.conns, concurrency, timeout_s, budget_s)

    async def run_phase(self, spec: PhaseSpec, t0_ns: int) -> dict[str, Any]:
        """Send this worker's share of the phase from t0_ns on, then drain; report."""
        return await loadgen_phase.run_phase(self, spec, t0_ns)

    def counters(self) -> dict[str, Any]:
        receiver, events = self.receiver, self.reconnector.events
        return {
            "acks": receiver.acks,
            "errors": dict(receiver.errors),
            "other_frames": dict(receiver.other_frames),
            "bad_frames": receiver.bad_frames,
            "late": receiver.late,
            "seq_violations_outside_phases": receiver.seq_violations_outside,
            "unexpected_disconnects": self.unexpected_disconnects,
            "open": sum(1 for c in self.conns if c.transport is not None and not c.disconnected),
            "reconnects": sum(1 for e in events if e[1]),
            "reconnect_gave_up": sum(1 for e in events if not e[1]),
            "reconnect_events": list(events),
            # still reconnecting or down: not in reconnect_events (recorded when done)
            "down": sum(1 for c in self.conns if c.reconnecting or c.disconnected),
            "resumed_incomplete": receiver.resumed_incomplete,
            "resent": self.reconnector.resent,
            "passed_on": self.reconnector.passed_on,
            "unacked": sum(len(c.unacked) for c in self.conns),
        }

    def arm_reconnect(self, plan: Reconnect | None) -> None:
        self.reconnector.arm(plan, self.conns)

    async def close(self) -> dict[str, Any]:
        self.closing = True
        self.reconnector.cancel()
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
