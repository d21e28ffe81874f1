"""The benchmark suite: `.venv/bin/python -m bench.run [--quick] [--scenario NAME ...]`.

Prepares the databases (a SQLite file in a temp dir; a dedicated PostgreSQL database,
`chat_bench` unless --pg-db says otherwise, dropped at the end), users with one session
each and their room memberships, collectstatic; starts
real daphne processes for the project and for the tutorial-style baseline
(bench/baseline/); runs the scenarios against each with the same generator
(bench/loadgen.py); writes bench/results/<YYYY-MM-DDTHHMM>.json and .md and prints the
table. See docs/performance.md for how to read it.
"""

# ruff: noqa: S603 - every subprocess here is this venv's python or py-spy, fixed argv

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import report
from bench.loadgen import ClientSpec, LoadGenerator, PhaseSpec, Reconnect, raise_nofile_limit

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


# --- process figures ---------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, seconds (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def system_busy_s() -> float:
    """CPU seconds all cores spent not idle, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Meter:
    """CPU seconds of the servers, generator, Redis, this run's PostgreSQL backends and the
    whole machine over an interval."""

    def __init__(
        self,
        server_pids: Sequence[int],
        generator_pids: Sequence[int],
        redis_cpu: Callable[[], float] | None,
        pg_pids: Callable[[], list[int]] | None,
    ) -> None:
        self.server_pids = list(server_pids)
        self.generator_pids = list(generator_pids)
        self.redis_cpu = redis_cpu
        self.pg_pids = pg_pids
        self._start: dict[str, Any] = {}

    def _sample(self) -> dict[str, Any]:
        pg = {pid: proc_cpu_s(pid) for pid in self.pg_pids()} if self.pg_pids else {}
        return {
            "wall": time.monotonic(),
            "servers": [proc_cpu_s(pid) for pid in self.server_pids],
            "generator": sum(proc_cpu_s(pid) for pid in self.generator_pids),
            "redis": self.redis_cpu() if self.redis_cpu else 0.0,
            "pg": pg,
            "system": system_busy_s(),
        }

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, Any]:
        end, start = self._sample(), self._start
        wall = end["wall"] - start["wall"]
        servers = [b - a for a, b in zip(start["servers"], end["servers"], strict=True)]
        generator = end["generator"] - start["generator"]
        redis = end["redis"] - start["redis"]
        pg = sum(cpu - start["pg"].get(pid, 0.0) for pid, cpu in end["pg"].items())
        system = end["system"] - start["system"]
        other = system - sum(servers) - generator - redis - pg

        def pct(seconds: float) -> float:
            return round(100 * seconds / wall, 1) if wall > 0 else 0.0

        return {
            "wall_s": round(wall, 3),
            "server_cpu_pct": [pct(s) for s in servers],
            "server_cpu_pct_total": pct(sum(servers)),
            "server_cpu_s": round(sum(servers), 3),
            "generator_cpu_pct": pct(generator),
            "redis_cpu_pct": pct(redis) if self.redis_cpu else None,
            "postgres_cpu_pct": pct(pg) if self.pg_pids else None,
            "machine_busy_pct": pct(system),
            "other_cpu_pct": pct(max(other, 0.0)),
        }


def redis_cpu_reader(url: str) -> Callable[[], float]:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)

    def read() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    return read


def pg_pid_reader(admin_url: str, db_name: str) -> Callable[[], list[int]]:
    import psycopg

    def read() -> list[int]:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (db_name,)
            ).fetchall()
        return [int(row[0]) for row in rows]

    return read


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    proc: "subprocess.Popen[bytes]"
    log_path: Path
    probe_status: int = 0  # HTTP status of the readiness probe (a page, not a socket)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


def start_server(
    name: str,
    app: str,
    env: dict[str, str],
    probe: str,
    log_dir: Path,
    cwd: Path,
    port: int | None = None,
) -> Server:
    port = port or free_port()
    log_path = log_dir / f"daphne-{name}-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, port, proc, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{server.http}{probe}", timeout=2) as resp:  # noqa: S310
                server.probe_status = resp.status
        except urllib.error.HTTPError as error:  # up, but the page failed: noted, not fatal
            server.probe_status = error.code
        except OSError:
            time.sleep(0.1)
            continue
        return server
    server.stop()
    raise RuntimeError(f"{name} did not answer within {STARTUP_TIMEOUT_SECONDS}s")


LOG_PROBLEM = re.compile(r"Traceback|ERROR|CRITICAL|WARNING|Exception|over capacity", re.I)


def log_problems(paths: Sequence[Path]) -> dict[str, Any]:
    """Lines of the server logs that look like trouble, grouped by their shape."""
    shapes: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if not LOG_PROBLEM.search(line):
                continue
            shape = re.sub(r"\d+", "N", re.sub(r"^\S+ \S+ ", "", line))[:160]
            shapes[shape] += 1
            examples.setdefault(shape, line[:300])
    return {
        "count": sum(shapes.values()),
        "kinds": [{"count": n, "example": examples[s]} for s, n in shapes.most_common(12)],
    }


# --- preparation -------------------------------------------------------------------------


@dataclass
class Prepared:
    tmp: Path
    src: Path  # the snapshot of the code every server of this run imports
    static_root: Path
    secret_key: str
    database_urls: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, list[str]] = field(default_factory=dict)
    admin_url: str = ""
    pg_db: str = BENCH_DB
    code_hash: str = ""
    migrations_missing: bool = False
    allrooms: AllRoomsShape | None = None
    allrooms_user_offset: dict[str, int] = field(default_factory=dict)  # room prefix -> first
    connect_queries: dict[str, Any] = field(default_factory=dict)  # db -> bench.connect_queries
    ceiling: dict[str, Any] = field(default_factory=dict)  # db -> bench.ceiling


# Every simulated user connects from 127.0.0.1 and senders go far past a person's rate,
# so the abuse limits (chat/limits.py) are set out of reach, not off: their checks still
# run (and cost what they cost in production), they just never refuse.
ABUSE_LIMITS = {
    "CHAT_MESSAGE_BURST": "1000000",
    "CHAT_MESSAGE_RATE_PER_SECOND": "1000000",
    "CHAT_MAX_CONNECTIONS_PER_USER": "1000000",
    "CHAT_MAX_CONNECTIONS_PER_IP": "1000000",
    "CHAT_CONNECT_ATTEMPTS_PER_MINUTE": "10000000",
    "CHAT_IDLE_TIMEOUT_SECONDS": "0",
}


def django_env(prepared: Prepared, database_url: str) -> dict[str, str]:
    return {
        "PYTHONPATH": str(prepared.src),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "DJANGO_SECRET_KEY": prepared.secret_key,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "0",
        "DJANGO_STATIC_ROOT": str(prepared.static_root),
        "CHAT_SHUTDOWN_TIMEOUT_SECONDS": "5",
        **ABUSE_LIMITS,
    }


def room_slugs(allrooms: AllRoomsShape | None) -> list[str]:
    slugs: list[str] = []
    for prefix in ("m", "r"):
        for name, shape in SHAPES.items():
            slugs.extend(f"{prefix}-{name}-{i}" for i in range(shape.rooms))
        slugs.append(f"{prefix}-idle-0")
        if allrooms is not None:
            slugs.extend(f"{prefix}-allrooms-{i}" for i in range(allrooms.rooms))
    return slugs


def memberships(
    users: int, allrooms: AllRoomsShape | None, offsets: dict[str, int]
) -> list[tuple[str, list[int]]]:
    """(room slug, member user indices): every simulated user is joined to the room it
    connects to (a sender must have joined a public room to write on /ws/chat/), and the
    all-rooms users to their rooms. Per-room scenarios reuse users 0..N-1; the all-rooms
    users of each room prefix are users nobody else uses, so their hello lists exactly
    their all-rooms rooms."""
    rows: list[tuple[str, list[int]]] = []
    for prefix in ("m", "r"):
        for name, shape in SHAPES.items():
            for room in range(shape.rooms):
                first = room * shape.clients_per_room
                rows.append(
                    (f"{prefix}-{name}-{room}", list(range(first, first + shape.clients_per_room)))
                )
        rows.append((f"{prefix}-idle-0", list(range(users))))
        if allrooms is not None:
            offset = offsets[prefix]
            for room, members in enumerate(allrooms.members()):
                rows.append((f"{prefix}-allrooms-{room}", [offset + u for u in members]))
    return rows


def run_quiet(argv: list[str], env: dict[str, str], what: str, cwd: Path) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


NOT_SERVER = frozenset({"bench", "tests", "docs", "deploy", "build"})


def server_parts(code: Path) -> list[str]:
    """The tree's Django apps and project package (top-level packages), its templates
    and manage.py: an app added to INSTALLED_APPS is copied without listing it here."""
    packages = sorted(
        p.name
        for p in code.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_SERVER
    )
    return [*packages, "templates", "manage.py"]


def snapshot(dest: Path, code: Path) -> str:
    """Copy the code under test (the server's from `code`, the bench's own from this
    tree, so two trees are measured with one harness), so edits made while the bench
    runs do not change what is measured half-way. Returns a hash of the copied sources."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for part in (*server_parts(code), "bench"):
        source = (ROOT if part == "bench" else code) / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, dest / part)
    digest = hashlib.sha256()
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(dest)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def collectstatic(prepared: Prepared) -> None:
    run_quiet(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        django_env(prepared, f"sqlite:///{prepared.tmp / 'unused.sqlite3'}"),
        "collectstatic",
        prepared.src,
    )


def missing_migrations(prepared: Prepared) -> bool:
    done = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", "-v0"],
        cwd=prepared.src,
        env={**os.environ, **django_env(prepared, f"sqlite:///{prepared.tmp / 'unused.sqlite3'}")},
        capture_output=True,
        check=False,
    )
    return done.returncode != 0


def prepare(
    dbs: Sequence[str],
    users: int,
    admin_url: str,
    say: Callable[[str], None],
    *,
    code: Path = ROOT,
    pg_db: str = BENCH_DB,
    allrooms: AllRoomsShape | None = None,
    ceiling_s: float = 0.0,
) -> Prepared:
    tmp = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    prepared = Prepared(
        tmp,
        tmp / "src",
        tmp / "static",
        f"bench-{secrets.token_urlsafe(32)}",
        admin_url=admin_url,
        pg_db=pg_db,
        allrooms=allrooms,
    )
    per_room_users = users
    if allrooms is not None:
        prepared.allrooms_user_offset = {"r": users, "m": users + allrooms.users}
        users += 2 * allrooms.users
    prepared.code_hash = snapshot(prepared.src, code)
    say(f"code snapshot {prepared.code_hash} in {prepared.src}")
    if not dbs:
        return prepared
    say("collectstatic")
    collectstatic(prepared)
    prepared.migrations_missing = missing_migrations(prepared)
    if prepared.migrations_missing:
        say("WARNING: models changed without a migration (makemigrations --check failed)")
    rooms_file = tmp / "rooms.json"
    rooms_file.write_text(json.dumps(room_slugs(allrooms)))
    members_file = tmp / "memberships.json"
    members_file.write_text(
        json.dumps(memberships(per_room_users, allrooms, prepared.allrooms_user_offset))
    )
    for db in dbs:
        if db == "sqlite":
            url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        else:
            import psycopg

            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {pg_db}")
            base = admin_url.rsplit("/", 1)[0]
            url = f"{base}/{pg_db}"
        prepared.database_urls[db] = url
        env = django_env(prepared, url)
        say(f"migrate ({db})")
        run_quiet(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            env,
            "migrate",
            prepared.src,
        )
        say(f"{users} users and sessions ({db})")
        out = tmp / f"prepared-{db}.json"
        run_quiet(
            [
                sys.executable,
                "-m",
                "bench.prepare",
                str(out),
                "--users",
                str(users),
                "--rooms",
                str(rooms_file),
                "--memberships",
                str(members_file),
            ],
            env,
            "bench.prepare",
            prepared.src,
        )
        prepared.sessions[db] = json.loads(out.read_text())["sessions"]
        if ceiling_s > 0:
            say(f"the database's own ceiling ({db}, {ceiling_s} s a shape)")
            prepared.ceiling[db] = ceiling(env, prepared.src, ceiling_s)
        if allrooms is not None:
            say(f"queries per all-rooms connect ({db})")
            prepared.connect_queries[db] = connect_queries(env, prepared.src)
    return prepared


def _snapshot_json(module: str, args: list[str], env: dict[str, str], src: Path) -> dict[str, Any]:
    """Run `python -m <module> --json <args>` in the snapshot and return the JSON object
    its last line prints; a failure is reported in the result, not fatal."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--json", *args],
        cwd=src,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def connect_queries(env: dict[str, str], src: Path) -> dict[str, Any]:
    """bench.connect_queries on the run's database (its own users and rooms, prefixed
    cq-)."""
    return _snapshot_json("bench.connect_queries", [], env, src)


def ceiling(env: dict[str, str], src: Path, seconds: float) -> dict[str, Any]:
    """bench.ceiling on the run's database: the database's own insert rates (scratch
    rooms, deleted after)."""
    return _snapshot_json("bench.ceiling", ["--seconds", str(seconds)], env, src)


def drop_bench_database(admin_url: str, pg_db: str) -> None:
    import psycopg

    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn,
    ):
        conn.execute(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")


# --- scenarios ---------------------------------------------------------------------------


def new_tag(name: str) -> str:
    return f"{name[:3]}{secrets.token_hex(3)}"


class Run:
    """One configuration: its servers, the generator settings, and its scenarios."""

    def __init__(
        self,
        run: RunConfig,
        mode: Mode,
        prepared: Prepared,
        redis_url: str,
        gen_procs: int,
        log_dir: Path,
        say: Callable[[str], None],
    ) -> None:
        self.run, self.mode, self.prepared = run, mode, prepared
        self.redis_url, self.gen_procs, self.log_dir, self.say = redis_url, gen_procs, log_dir, say
        self.servers: list[Server] = []
        self.old_logs: list[Path] = []  # of processes restarted (storm)
        self.prefix = f"bench{secrets.token_hex(4)}"
        self.sessions = prepared.sessions.get(run.db or "", [])

    # servers

    def env(self) -> dict[str, str]:
        redis = self.redis_url if self.run.config == "2proc-redis" else ""
        if self.run.target == "baseline":
            return {
                "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
                "BENCH_BASELINE_REDIS_URL": redis,
                "BENCH_BASELINE_PREFIX": self.prefix,
                "PYTHONPATH": str(self.prepared.src),
            }
        env = django_env(self.prepared, self.prepared.database_urls[self.run.db or ""])
        return {**env, "REDIS_URL": redis, "CHAT_LAYER_PREFIX": self.prefix}

    def app_probe(self) -> tuple[str, str]:
        return (
            ("bench.baseline.asgi:application", "/")
            if self.run.target == "baseline"
            else ("chatsite.asgi:application", "/accounts/login/")
        )

    def restart(self, index: int, generation: int) -> tuple[int, int]:
        """SIGTERM one process, wait for it to exit, start it again on the same port (as
        deploy/ does, one process at a time). Returns (SIGTERM at, answering again at),
        CLOCK_MONOTONIC ns."""
        old = self.servers[index]
        sent = time.monotonic_ns()
        old.stop()
        self.old_logs.append(old.log_path)
        app, probe = self.app_probe()
        name = f"{self.run.key.replace('/', '-')}-{index}-r{generation}"
        self.servers[index] = start_server(
            name, app, self.env(), probe, self.log_dir, self.prepared.src, port=old.port
        )
        return sent, time.monotonic_ns()

    def start(self, count: int) -> None:
        app, probe = self.app_probe()
        name = self.run.key.replace("/", "-")
        for index in range(count):
            self.servers.append(
                start_server(
                    f"{name}-{index}", app, self.env(), probe, self.log_dir, self.prepared.src
                )
            )

    def stop(self) -> list[Path]:
        logs = [*self.old_logs, *(server.log_path for server in self.servers)]
        for server in self.servers:
            server.stop()
        self.servers = []
        if self.run.config == "2proc-redis":
            self.forget_redis_keys()
        return logs

    def forget_redis_keys(self) -> None:
        """Delete this run's channel-layer keys (the core layer's groups live a day)."""
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)
        with contextlib.suppress(redis.RedisError):
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
        client.close()

    def settle(self, max_s: float) -> float:
        """Wait (at most max_s) until the servers are idle: under 10% of a core over half a
        second, so a backlog left by one scenario does not count against the next."""
        pids = [server.proc.pid for server in self.servers]
        started = time.monotonic()
        before = sum(proc_cpu_s(pid) for pid in pids)
        while time.monotonic() - started < max_s:
            time.sleep(0.5)
            now = sum(proc_cpu_s(pid) for pid in pids)
            if now - before < 0.05:
                break
            before = now
        return round(time.monotonic() - started, 1)

    def meter(self, generator: LoadGenerator) -> Meter:
        redis = redis_cpu_reader(self.redis_url) if self.run.config == "2proc-redis" else None
        pg = (
            pg_pid_reader(self.prepared.admin_url, self.prepared.pg_db)
            if self.run.db == "postgresql"
            else None
        )
        return Meter([s.proc.pid for s in self.servers], generator.pids, redis, pg)

    # clients

    def specs(self, scenario: str, shape: Shape, servers: Sequence[Server]) -> list[ClientSpec]:
        """Room-major clients; client i on server i % len(servers); the first
        senders_per_room clients of each room send."""
        if self.run.target == "project" and len(self.sessions) < shape.clients:
            raise RuntimeError(
                f"{scenario}: {shape.clients} clients but {len(self.sessions)} sessions"
            )
        specs = []
        for i in range(shape.clients):
            room, member = divmod(i, shape.clients_per_room)
            server = servers[i % len(servers)]
            slug = f"{self.run.room_prefix}-{scenario}-{room}"
            sender = (
                room * shape.senders_per_room + member if member < shape.senders_per_room else None
            )
            cookie = f"sessionid={self.sessions[i]}" if self.run.target == "project" else None
            specs.append(
                ClientSpec(i, f"{server.ws}/ws/chat/{slug}/", server.http, cookie, slug, sender)
            )
        return specs

    def traffic(self, scenario: str, profile_to: Path | None = None) -> dict[str, Any]:
        shape = SHAPES[scenario]
        specs = self.specs(scenario, shape, self.servers)
        result: dict[str, Any] = {"shape": shape.__dict__}
        with LoadGenerator(specs, self.gen_procs) as gen:
            result["connect"] = connect = gen.connect(CONNECT_CONCURRENCY)
            if connect["connected"] < len(specs):
                # A partly connected room would measure a different scenario.
                result["aborted"] = (
                    f"{connect['connected']} of {len(specs)} connected: "
                    + "; ".join(f"{n}x {why}" for why, n in list(connect["failures"].items())[:3])
                )
                self.say(f"    aborted: {result['aborted']}")
                result["counters"] = gen.close()
                return result
            warm = PhaseSpec(new_tag("warm"), 0.5, min(shape.rate, 5.0), 1.0)
            gen.run_phase(warm)
            # Frames other than messages during the joins and the warm-up: a mass join
            # must not flood the room with presence frames (bigroom).
            result["frames_during_joins"] = gen.counters()["other_frames"]
            meter = self.meter(gen)
            if scenario == "saturation":
                result["steps"] = self.saturation_steps(gen, meter, shape)
            else:
                seconds = {"light": self.mode.light_s, "fanout": self.mode.fanout_s}.get(
                    scenario, self.mode.rooms_s
                )
                phase = PhaseSpec(new_tag(scenario), seconds, shape.rate, self.mode.drain_s)
                meter.start()
                summary = gen.run_phase(phase)
                summary["cpu"] = meter.stop()
                add_server_cost(summary)
                result.update(summary)
                if profile_to is not None:
                    result["profile"] = self.profile(gen, shape, profile_to)
            result["counters"] = gen.close()
        return result

    def saturation_steps(
        self, gen: LoadGenerator, meter: Meter, shape: Shape
    ) -> list[dict[str, Any]]:
        steps = []
        senders = shape.rooms * shape.senders_per_room
        for total in self.mode.saturation_steps:
            phase = PhaseSpec(new_tag("sat"), self.mode.step_s, total / senders, self.mode.drain_s)
            meter.start()
            summary = gen.run_phase(phase)
            summary["cpu"] = meter.stop()
            add_server_cost(summary)
            ok, why = sustainable(summary)
            summary["sustainable"], summary["why_not"] = ok, why
            steps.append(summary)
            self.say(
                f"    {total:>5} msg/s: p99 {summary['latency_ms']['p99']} ms, "
                f"loss {summary['loss']}, {'ok' if ok else why}"
            )
            if not ok:
                break
        return steps

    def idle(self) -> dict[str, Any]:
        """N connections held on one process: RSS per connection and connect rate."""
        count = self.mode.idle_connections
        server = self.servers[0]
        if self.run.target == "project" and len(self.sessions) < count + 1:
            raise RuntimeError(f"idle: {count + 1} sessions needed, {len(self.sessions)} prepared")
        shape = Shape(1, count + 1, 0, 0.0)
        specs = self.specs("idle", shape, [server])
        with (
            LoadGenerator(specs[:1], 1) as warm,
            LoadGenerator(specs[1:], self.gen_procs) as gen,
        ):
            warm.connect(1)
            time.sleep(0.5)
            rss_before = proc_rss_kib(server.proc.pid)
            meter = Meter([server.proc.pid], gen.pids, None, None)
            meter.start()
            connect = gen.connect(CONNECT_CONCURRENCY, budget_s=self.mode.idle_connect_s)
            connect_cpu = meter.stop()
            time.sleep(self.mode.idle_hold_s)
            rss_after = proc_rss_kib(server.proc.pid)
            counters = gen.counters()
            closed = gen.close()
            warm.close()
        connected = connect["connected"]
        return {
            "connections": count,
            "connect": connect,
            "connect_cpu": connect_cpu,
            "server_cpu_ms_per_connect": round(1000 * connect_cpu["server_cpu_s"] / connected, 3)
            if connected
            else None,
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "rss_kib_per_connection": round((rss_after - rss_before) / connected, 2)
            if connected
            else None,
            "held_s": self.mode.idle_hold_s,
            "open_after_hold": counters["open"],
            "counters": closed,
        }

    def storm(self) -> dict[str, Any]:
        """Sessions with resume state, then a rolling restart (SIGTERM one process, start
        it again, then the next): every client reconnects with backoff and full jitter to
        `?after=<last seq>` and resends what was not acknowledged, while one sender per
        room keeps sending. Then fresh authenticated connects, 100 in flight."""
        result: dict[str, Any] = {}
        if self.run.target == "project":
            result.update(self.storm_restart())
        result["new_connects"] = self.new_connects()
        # daphne logs a socket it could not close within its 10 s application close
        # timeout only after those 10 s: wait for them before reading the logs.
        time.sleep(12.0)
        problems = log_problems([*self.old_logs, *(s.log_path for s in self.servers)])
        result["log_problems"] = problems["count"]
        result["log_errors"] = sum(
            k["count"]
            for k in problems["kinds"]
            if re.search(r"Traceback|ERROR|CRITICAL|Exception", k["example"])
        )
        result["log_problem_kinds"] = problems["kinds"]
        self.say(f"    server log problems {problems['count']} ({result['log_errors']} errors)")
        return result

    def storm_restart(self) -> dict[str, Any]:
        base = SHAPES["storm"]
        shape = Shape(self.mode.storm_rooms, base.clients_per_room, 1, base.rate)
        specs = self.specs("storm", shape, self.servers)
        result: dict[str, Any] = {"sessions": len(specs), "shape": shape.__dict__}
        plan_servers = tuple((s.ws, s.http) for s in self.servers)
        with LoadGenerator(specs, self.gen_procs) as gen:
            result["connect"] = connect = gen.connect(CONNECT_CONCURRENCY)
            self.say(f"    {connect['connected']} of {len(specs)} connected")
            if connect["connected"] < len(specs):
                result["aborted"] = f"{connect['connected']} of {len(specs)} connected"
                result["counters"] = gen.close()
                return result
            # a first message in every room, so every session has a seq to resume after
            gen.run_phase(PhaseSpec(new_tag("warm"), 1.0, 1.0, 5.0))
            self.settle(SETTLE_MAX_SECONDS)
            # The restart of both processes fits in the phase; the drain leaves room for
            # every session to be back and the resends to be answered.
            length = STORM_BEFORE_RESTART_S + 2 * 20.0 + STORM_AFTER_RESTART_S
            phase = PhaseSpec(new_tag("storm"), length, shape.rate, STORM_BACK_WITHIN_S)
            until = time.monotonic_ns() + int((length + 2 * STORM_BACK_WITHIN_S) * 1e9)
            gen.arm_reconnect(Reconnect(plan_servers, until_ns=until))
            restarts: list[tuple[int, int]] = []

            def roll() -> None:
                time.sleep(STORM_BEFORE_RESTART_S + 0.3)
                for index in range(len(self.servers)):
                    restarts.append(self.restart(index, 1))
                    time.sleep(2.0)  # as deploy/: the next one once this one answers

            roller = threading.Thread(target=roll, name="rolling-restart")
            roller.start()
            summary = gen.run_phase(phase)
            roller.join(timeout=120)
            counters = gen.counters()
            gen.arm_reconnect(None)
            events = counters.pop("reconnect_events")
            result["phase"] = summary
            result["restarts_ns"] = restarts
            back_after: list[float | None] = []
            for k, (sent, _ready) in enumerate(restarts):
                end = restarts[k + 1][0] if k + 1 < len(restarts) else math.inf
                mine = [e for e in events if sent <= e[0] < end]
                if not mine:
                    back_after.append(None)
                    continue
                missing = [e for e in mine if not e[1]]
                back_after.append(
                    None if missing else round((max(e[1] for e in mine) - sent) / 1e9, 2)
                )
            result["back_after_s"] = back_after
            result["dropped"] = len(events)
            result["still_down"] = counters["down"]
            result["reconnects"] = counters["reconnects"]
            result["gave_up"] = counters["reconnect_gave_up"]
            result["all_back_within_30s"] = (
                bool(restarts)
                and not counters["down"]
                and all(b is not None and b <= STORM_BACK_WITHIN_S for b in back_after)
            )
            result["resumed_incomplete"] = counters["resumed_incomplete"]
            result["resent"] = counters["resent"]
            result["unacked_at_end"] = counters["unacked"]
            closed = gen.close()
            closed.pop("reconnect_events", None)  # one per drop: kept out of the result file
            result["counters"] = closed
        self.say(f"    back after {back_after} s, loss {summary['loss']}, dup {summary['dups']}")
        return result

    def new_connects(self) -> dict[str, Any]:
        """Fresh authenticated connects (sessions nobody else used) at 100 in flight."""
        count = self.mode.storm_new_connects
        first = self.mode.storm_rooms * SHAPES["storm"].clients_per_room
        if self.run.target == "project" and len(self.sessions) < first + count:
            raise RuntimeError(f"storm: {first + count} sessions needed")
        specs = []
        for i in range(count):
            server = self.servers[i % len(self.servers)]
            slug = f"{self.run.room_prefix}-idle-0"
            cookie = (
                f"sessionid={self.sessions[first + i]}" if self.run.target == "project" else None
            )
            specs.append(ClientSpec(i, f"{server.ws}/ws/chat/{slug}/", server.http, cookie, slug))
        self.settle(SETTLE_MAX_SECONDS)
        with LoadGenerator(specs, self.gen_procs) as gen:
            connect = gen.connect(NEW_CONNECT_CONCURRENCY)
            gen.close()
        self.say(f"    new connects: {connect['connected']}, {connect['connects_per_s']}/s")
        return connect

    def allrooms_specs(self) -> list[ClientSpec]:
        """One all-rooms connection (`/ws/chat/`) per user, user u on server u % n."""
        shape = self.prepared.allrooms
        if shape is None:
            raise RuntimeError("allrooms: the databases were prepared without it")
        offset = self.prepared.allrooms_user_offset[self.run.room_prefix]
        if len(self.sessions) < offset + shape.users:
            raise RuntimeError(f"allrooms: {offset + shape.users} sessions needed")
        members = shape.members()
        senders = {user: room for room, user in shape.senders(members).items()}
        slot_of = {user: slot for slot, user in enumerate(sorted(senders))}
        rooms_of: list[list[str]] = [[] for _ in range(shape.users)]
        for room, users in enumerate(members):
            for user in users:
                rooms_of[user].append(f"{self.run.room_prefix}-allrooms-{room}")
        specs = []
        for user in range(shape.users):
            server = self.servers[user % len(self.servers)]
            send_room = senders.get(user)
            specs.append(
                ClientSpec(
                    user,
                    f"{server.ws}/ws/chat/",
                    server.http,
                    f"sessionid={self.sessions[offset + user]}",
                    f"{self.run.room_prefix}-allrooms-{send_room}"
                    if send_room is not None
                    else rooms_of[user][0],
                    slot_of.get(user),
                    tuple(rooms_of[user]),
                )
            )
        return specs

    def allrooms(self) -> dict[str, Any]:
        """Every user connects once to /ws/chat/ (connect rate, server CPU per connect,
        hello size), then senders post into their rooms: deliveries, latency, loss,
        per-room seq order on every connection."""
        shape = self.prepared.allrooms
        if shape is None or self.run.target != "project":
            return {"aborted": "project only (the baseline has no all-rooms endpoint)"}
        specs = self.allrooms_specs()
        result: dict[str, Any] = {"shape": {**shape.__dict__, "rooms": shape.rooms}}
        with LoadGenerator(specs, self.gen_procs) as gen:
            meter = self.meter(gen)
            meter.start()
            result["connect"] = connect = gen.connect(CONNECT_CONCURRENCY)
            result["connect_cpu"] = connect_cpu = meter.stop()
            connected = connect["connected"]
            result["server_cpu_ms_per_connect"] = (
                round(1000 * connect_cpu["server_cpu_s"] / connected, 3) if connected else None
            )
            if connected < len(specs):
                result["aborted"] = f"{connected} of {len(specs)} connected: " + "; ".join(
                    f"{n}x {why}" for why, n in list(connect["failures"].items())[:3]
                )
                self.say(f"    aborted: {result['aborted']}")
                result["counters"] = gen.close()
                return result
            self.say(
                f"    {connected} connected, {connect['connects_per_s']}/s, "
                f"{result['server_cpu_ms_per_connect']} ms server CPU each, hello "
                f"{connect['hello_bytes']['p50']} bytes for {connect['hello_rooms']['p50']} rooms"
            )
            self.settle(SETTLE_MAX_SECONDS)  # the joins' presence frames
            gen.run_phase(PhaseSpec(new_tag("warm"), 1.0, shape.rate, 1.0))
            phase = PhaseSpec(new_tag("all"), self.mode.allrooms_s, shape.rate, self.mode.drain_s)
            meter.start()
            summary = gen.run_phase(phase)
            summary["cpu"] = meter.stop()
            add_server_cost(summary)
            result.update(summary)
            result["counters"] = gen.close()
        return result

    def profile(self, gen: LoadGenerator, shape: Shape, out_prefix: Path) -> dict[str, Any]:
        """Repeat the phase with py-spy sampling server 0 (not part of the figures)."""
        pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        pid = str(self.servers[0].proc.pid)
        seconds = self.mode.profile_s
        raw, svg = out_prefix.with_suffix(".txt"), out_prefix.with_suffix(".svg")
        common = [
            "record",
            "--pid",
            pid,
            "--duration",
            str(int(seconds + 1)),
            "--rate",
            "100",
            "--nonblocking",
        ]
        procs = [
            subprocess.Popen(
                [pyspy, *common, *extra, "-o", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for extra, path in (
                (["--format", "raw", "--threads"], raw),  # thread ids: reactor vs. DB threads
                (["--format", "flamegraph"], svg),
            )
        ]
        time.sleep(1.0)  # attach
        phase = PhaseSpec(new_tag("prof"), seconds, shape.rate, self.mode.drain_s)
        summary = gen.run_phase(phase)
        errors = []
        for proc in procs:
            try:
                _, err = proc.communicate(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            if proc.returncode:
                errors.append(err.decode(errors="replace")[-500:])
        result: dict[str, Any] = {
            "server": self.servers[0].name,
            "seconds": seconds,
            "raw": str(raw) if raw.exists() else None,
            "flamegraph": str(svg) if svg.exists() else None,
            "errors": errors,
            "phase_latency_ms": summary["latency_ms"],
            "phase_loss": summary["loss"],
        }
        if raw.exists():
            result.update(report.hotspots(raw.read_text()))
        return result


def add_server_cost(summary: dict[str, Any]) -> None:
    received = summary["received"]
    cpu = summary["cpu"]
    summary["server_us_per_delivery"] = (
        round(cpu["server_cpu_s"] / received * 1e6, 2) if received else None
    )


def sustainable(summary: dict[str, Any]) -> tuple[bool, str]:
    if summary["loss"] > 0:
        return False, f"loss {summary['loss']}"
    if summary["latency_ms"]["p99"] is None:
        return False, "nothing received"
    if summary["latency_ms"]["p99"] >= P99_LIMIT_MS:
        return False, f"p99 {summary['latency_ms']['p99']:.0f} ms"
    if summary["dups"] or summary["seq_violations"] or summary["sender_order_violations"]:
        return False, "duplicates or order violations"
    return True, ""


# --- main --------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    names = [
        "django",
        "channels",
        "channels-redis",
        "daphne",
        "twisted",
        "picows",
        "uvloop",
        "redis",
        "psycopg",
    ]
    found = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def git_state(code: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=code, capture_output=True, text=True, check=False)  # noqa: S607
        return done.stdout.rstrip("\n")  # not strip(): porcelain lines start with a space

    dirty = [line[3:] for line in git("status", "--porcelain", "chat", "chatsite").splitlines()]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "server_files_changed": dirty,
        "code_dir": str(code),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="short run (about 3 minutes)")
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--config", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--db", nargs="+", choices=DATABASES, default=list(DATABASES))
    parser.add_argument(
        "--target", nargs="+", choices=("baseline", "project"), default=["baseline", "project"]
    )
    parser.add_argument(
        "--run",
        nargs="+",
        choices=[r.key for r in ALL_RUNS],
        help="only these runs (instead of --target x --config x --db)",
    )
    parser.add_argument("--gen-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument(
        "--profile-run",
        default="project/2proc-redis/postgresql",
        help="run whose --profile-scenario is profiled (default: %(default)s)",
    )
    parser.add_argument(
        "--profile-scenario",
        default="fanout",
        help="traffic scenario whose phase is repeated under py-spy (default: %(default)s)",
    )
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get(
            "BENCH_POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
        help=f"where to create/drop the {BENCH_DB} database",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--pg-db", default=BENCH_DB, help="PostgreSQL database to create/drop (%(default)s)"
    )
    parser.add_argument(
        "--code",
        type=Path,
        default=ROOT,
        help="tree whose server code (chat/, chatsite/, templates/) is measured, e.g. a "
        "git worktree of an older commit; the bench itself is always this one",
    )
    parser.add_argument(
        "--allrooms-users",
        type=int,
        default=ALLROOMS.users,
        help="allrooms: users (multiple of 50; %(default)s)",
    )
    parser.add_argument(
        "--allrooms-rate",
        type=float,
        default=ALLROOMS.sending_rooms * ALLROOMS.rate,
        help="allrooms: total msg/s over the sending rooms (%(default)s)",
    )
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=3.0,
        help="seconds per shape of the database ceiling (bench/ceiling.py); 0: skip",
    )
    parser.add_argument(
        "--storm-rooms",
        type=int,
        help="storm: rooms of 100 sessions (full: 100 = 10,000 sessions; quick: 10)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (daphne logs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    mode = QUICK if args.quick else FULL
    if args.storm_rooms is not None:
        mode = dataclasses.replace(mode, storm_rooms=min(args.storm_rooms, STORM_ROOMS_MAX))
    started = dt.datetime.now()
    stamp = started.strftime("%Y-%m-%dT%H%M")
    args.out.mkdir(parents=True, exist_ok=True)
    wall0 = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - wall0:6.1f}s] {text}", flush=True)

    fds = raise_nofile_limit()
    runs = [
        r
        for r in ALL_RUNS
        if (
            r.key in args.run
            if args.run
            else r.target in args.target
            and r.config in args.config
            and (r.db is None or r.db in args.db)
        )
    ]
    dbs = sorted({r.db for r in runs if r.db}, key=DATABASES.index)
    storm_users = mode.storm_rooms * SHAPES["storm"].clients_per_room + mode.storm_new_connects
    users = max(mode.idle_connections + 1, storm_users, max(s.clients for s in SHAPES.values()))
    allrooms = None
    if "allrooms" in args.scenario:
        sending = min(ALLROOMS.sending_rooms, args.allrooms_users * 20 // 50)
        allrooms = AllRoomsShape(
            users=args.allrooms_users, sending_rooms=sending, rate=args.allrooms_rate / sending
        )
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "mode": mode.name,
        "mode_settings": mode.__dict__,
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "open_files_limit": fds,
            "load_average_at_start": load_average(),
        },
        "generator": {"client": "picows", "loop": "uvloop", "processes": args.gen_procs},
        "versions": versions(),
        "git": git_state(args.code.resolve()),
        "runs": [],
    }
    prepared = prepare(
        dbs,
        users,
        args.postgres_admin_url,
        say,
        code=args.code.resolve(),
        pg_db=args.pg_db,
        allrooms=allrooms,
        ceiling_s=args.ceiling_seconds,
    )
    if prepared.ceiling:
        results["ceiling"] = prepared.ceiling
    results["code"] = {
        "snapshot_hash": prepared.code_hash,
        "migrations_missing": prepared.migrations_missing,
    }
    if prepared.connect_queries:
        results["connect_queries"] = prepared.connect_queries
    log_dir = prepared.tmp / "logs"
    log_dir.mkdir()
    deadline = wall0 + mode.max_minutes * 60
    try:
        for run in runs:
            entry: dict[str, Any] = {
                **run.__dict__,
                "key": run.key,
                "scenarios": {},
                "skipped": [],
                "settle_s": {},
            }
            results["runs"].append(entry)
            bench_run = Run(run, mode, prepared, args.redis_url, args.gen_procs, log_dir, say)
            say(f"== {run.key}")
            bench_run.start(run.processes)
            try:
                for scenario in [s for s in SCENARIOS if s in args.scenario]:
                    if scenario == "allrooms" and run.target != "project":
                        continue  # the baseline has no all-rooms endpoint
                    if time.monotonic() > deadline:
                        entry["skipped"].append(scenario)
                        say(f"  {scenario}: skipped, past the {mode.max_minutes} min budget")
                        continue
                    settled = bench_run.settle(SETTLE_MAX_SECONDS)
                    entry["settle_s"][scenario] = settled
                    say(
                        f"  {scenario}"
                        + (f" (servers busy for {settled} s first)" if settled > 1 else "")
                    )
                    if scenario == "idle":
                        entry["scenarios"]["idle"] = bench_run.idle()
                        continue
                    if scenario == "allrooms":
                        entry["scenarios"]["allrooms"] = bench_run.allrooms()
                        continue
                    if scenario == "storm":
                        entry["scenarios"]["storm"] = bench_run.storm()
                        continue
                    profile_to = None
                    if (
                        scenario == args.profile_scenario
                        and not args.no_profile
                        and run.key == args.profile_run
                    ):
                        profile_to = args.out / f"{stamp}-profile"
                    outcome = bench_run.traffic(scenario, profile_to)
                    if "profile" in outcome:
                        results["profile"] = {
                            "run": run.key,
                            "scenario": scenario,
                            **outcome.pop("profile"),
                        }
                    entry["scenarios"][scenario] = outcome
            finally:
                entry["server_log_problems"] = log_problems(bench_run.stop())
    finally:
        if "postgresql" in dbs:
            drop_bench_database(args.postgres_admin_url, args.pg_db)
        results["host"]["load_average_at_end"] = load_average()
        results["elapsed_s"] = round(time.monotonic() - wall0, 1)
        json_path = args.out / f"{stamp}.json"
        json_path.write_text(json.dumps(results, indent=1, default=list))
        table = report.markdown(results)
        (args.out / f"{stamp}.md").write_text(table)
        if args.keep:
            say(f"kept {prepared.tmp}")
        else:
            shutil.rmtree(prepared.tmp, ignore_errors=True)
    print()
    print(table)
    say(f"wrote {json_path} and {json_path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
