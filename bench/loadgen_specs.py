"""What a load run asks for: the clients, the phases and the reconnect plan, and the
counts that follow from them. Plain picklable data for the worker processes; no I/O."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Reconnect:
    """Reconnect every dropped connection, resuming with ``?after=`` (storm scenario).

    Each attempt goes through a balancer in front of ``servers`` (see
    ``Reconnector._attempt`` in bench/loadgen_connect.py): a process at random, the next
    one if it refuses.
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
