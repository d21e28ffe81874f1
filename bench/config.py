"""What the bench runs: the scenarios, the quick and full modes, the shapes of
each scenario's load and the runs (target, process count, database)."""

import math
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
# idle first, on freshly started servers; saturation last (it ends with a backlog)
SCENARIOS = (
    "idle",
    "light",
    "fanout",
    "rooms",
    "writeheavy",
    "bigroom",
    "allrooms",
    "storm",
    "saturation",
)
CONFIGS = ("1proc-memory", "2proc-redis")
DATABASES = ("sqlite", "postgresql")
BENCH_DB = "chat_bench"  # default; --pg-db names another (parallel runs, before/after)
STARTUP_TIMEOUT_SECONDS = 60
STORM_BEFORE_RESTART_S = 3.0  # of traffic before the first SIGTERM
STORM_AFTER_RESTART_S = 5.0  # of traffic after the last process is back
STORM_BACK_WITHIN_S = 30.0  # the target: every session back within this
STORM_MIN_CONNECTED = 0.99  # of the sessions connected before the restart, or no storm
STORM_ROOMS_MAX = 100  # rooms prepared for storm (100 sessions each)
NEW_CONNECT_CONCURRENCY = 100  # the target's "100 in flight" (above Twisted's backlog 50)
CONNECT_CONCURRENCY = 32  # below daphne's listen backlog (Twisted's default: 50)
P99_LIMIT_MS = 100.0
SETTLE_MAX_SECONDS = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Mode:
    name: str
    light_s: float
    fanout_s: float
    rooms_s: float
    allrooms_s: float
    step_s: float
    saturation_steps: tuple[int, ...]  # total messages/s
    idle_connections: int
    idle_hold_s: float
    idle_connect_s: float  # no new handshake after this long (slow servers; quick mode)
    drain_s: float
    profile_s: float
    max_minutes: float
    storm_rooms: int = 100  # of STORM's 100-client rooms: 100 = 10,000 sessions
    storm_new_connects: int = 2000  # fresh authenticated connects after the storm


# about x1.4 per step
# From 2 msg/s: the tutorial already misses p99 < 100 ms at 10 (1,000 deliveries/s in a
# room of 100), and the ratio to it needs its own last sustainable step.
FULL_STEPS = (
    2,
    3,
    5,
    7,
    10,
    14,
    20,
    28,
    40,
    56,
    80,
    113,
    160,
    226,
    320,
    453,
    640,
    905,
    1280,
    1810,
    2560,
    3620,
)
QUICK = Mode(
    name="quick",
    light_s=2,
    fanout_s=3,
    rooms_s=2,
    allrooms_s=4,
    step_s=1,
    saturation_steps=(10, 25, 50, 100, 200, 400, 800, 1600, 3200),
    idle_connections=2000,
    idle_connect_s=5,
    idle_hold_s=1,
    drain_s=1.5,
    profile_s=4,
    max_minutes=6,
    storm_rooms=10,
    storm_new_connects=500,
)
FULL = Mode(
    name="full",
    light_s=10,
    fanout_s=10,
    rooms_s=10,
    allrooms_s=20,  # at 0.5 msg/s a sender: 10 messages each
    step_s=3,
    saturation_steps=FULL_STEPS,
    idle_connections=10000,
    idle_connect_s=60,
    idle_hold_s=10,
    drain_s=5,
    profile_s=10,
    max_minutes=25,
)


@dataclass(frozen=True)
class Shape:
    """Rooms x clients per room, senders per room, each sending at rate msg/s."""

    rooms: int
    clients_per_room: int
    senders_per_room: int
    rate: float

    @property
    def clients(self) -> int:
        return self.rooms * self.clients_per_room


SHAPES = {
    "light": Shape(1, 10, 1, 10.0),
    "fanout": Shape(1, 200, 5, 20.0),
    "rooms": Shape(50, 10, 2, 5.0),
    # issue #13: 2,000 messages/s saved (20,000 deliveries/s) over 100 rooms
    "writeheavy": Shape(100, 10, 5, 4.0),
    # issue #13: one room of 2,000 (10,000 deliveries/s); the joins' presence counted
    "bigroom": Shape(1, 2000, 1, 5.0),
    # issue #13: sessions that resume after a rolling restart (Mode.storm_rooms of them)
    "storm": Shape(STORM_ROOMS_MAX, 100, 1, 0.2),
    "saturation": Shape(1, 100, 10, 5.0),  # rate stepped, see Mode.saturation_steps
}


@dataclass(frozen=True)
class AllRoomsShape:
    """Users each holding one all-rooms connection (`/ws/chat/`) to the rooms they joined.

    Every user is in `rooms_per_user` rooms and every room has `members_per_room`
    members, so there are users * rooms_per_user / members_per_room rooms. One member of
    each of `sending_rooms` rooms (spread over all of them) sends `rate` msg/s there.
    """

    users: int = 1000
    rooms_per_user: int = 20
    members_per_room: int = 50
    sending_rooms: int = 100
    rate: float = 0.5  # per sending room: 100 x 0.5 = 50 msg/s = 2,500 deliveries/s

    @property
    def rooms(self) -> int:
        return self.users * self.rooms_per_user // self.members_per_room

    def members(self) -> list[list[int]]:
        """Member user indices (0..users-1) of each room.

        rooms_per_user layers; in each, the users are permuted (u -> a*u + b mod users,
        a coprime to users, a different a per layer) and cut into rooms of
        members_per_room, so every user is in one room per layer and a room's members are
        spread over the users (and over the server processes, client u being on u % n).
        """
        if self.users % self.members_per_room:
            raise ValueError("users must be a multiple of members_per_room")
        per_layer = self.users // self.members_per_room
        multipliers = [a for a in range(1, 10 * self.users) if math.gcd(a, self.users) == 1]
        rooms: list[list[int]] = [[] for _ in range(self.rooms)]
        for layer in range(self.rooms_per_user):
            a, b = multipliers[layer * 7 % len(multipliers)], layer * 37
            for user in range(self.users):
                position = (a * user + b) % self.users
                rooms[layer * per_layer + position // self.members_per_room].append(user)
        return rooms

    def senders(self, members: list[list[int]]) -> dict[int, int]:
        """room index -> the member who sends there; no user sends in two rooms."""
        count = min(self.sending_rooms, self.rooms)
        step = self.rooms / count
        taken: set[int] = set()
        chosen: dict[int, int] = {}
        for k in range(count):
            room = int(k * step)
            user = next(u for u in members[room] if u not in taken)
            taken.add(user)
            chosen[room] = user
        return chosen


ALLROOMS = AllRoomsShape()


@dataclass(frozen=True)
class RunConfig:
    target: str  # "baseline" or "project"
    config: str  # one of CONFIGS
    db: str | None  # None for the baseline

    @property
    def key(self) -> str:
        return f"{self.target}/{self.config}" + (f"/{self.db}" if self.db else "")

    @property
    def processes(self) -> int:
        return 2 if self.config == "2proc-redis" else 1

    @property
    def room_prefix(self) -> str:
        return "m" if self.config == "1proc-memory" else "r"


# Baselines first (the ratios need them), then the deployment shape (2 processes, Redis).
ALL_RUNS = [
    RunConfig("baseline", "1proc-memory", None),
    RunConfig("baseline", "2proc-redis", None),
    RunConfig("project", "2proc-redis", "postgresql"),
    RunConfig("project", "2proc-redis", "sqlite"),
    RunConfig("project", "1proc-memory", "postgresql"),
    RunConfig("project", "1proc-memory", "sqlite"),
]
