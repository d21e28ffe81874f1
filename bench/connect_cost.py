"""Server CPU per authenticated all-rooms connect (issue #28), against the tutorial's
connect in the same run.

    python -m bench.connect_cost [--connects 2000] [--runs 3] [--code DIR ...]

Production shape: 2 daphne processes, Redis (its own `redis-server`, started here on
--redis-port, so its CPU and `INFO commandstats` are this bench's alone), PostgreSQL
(--pg-db, dropped at the end). Every simulated user is a member of 20 of 200 rooms, each
room with --history messages (so hello carries unread counts); every connect uses a
session nobody used before. A connect is: handshake -> `hello` received -> close, with
--in-flight of them at once. Per run of a tree: server CPU (both daphnes), Redis CPU,
PostgreSQL backend CPU, each ÷ connects; connects/s; Redis commands ÷ connects; and
the tutorial (bench/baseline, 2 processes + the same Redis) in the same round. Runs
alternate (tutorial, then each tree, the order rotated each round); medians are
reported. Then `bench.connect_queries --rooms 20` in each tree counts the SQL
statements and Redis round trips of one connect.

Each --code DIR is one tree measured with this harness (default: this tree); label
them with --label. Results go to bench/results/connect-cost-*.json.
"""

# ruff: noqa: S603 - every subprocess here is this venv's python or redis-server, fixed argv

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RESULTS_DIR, ROOT
from bench.connect_parts import OwnRedis, run_client
from bench.daphnes import Server, free_port, log_problems, start_server
from bench.meter import Meter, pg_pid_reader
from bench.preparing import (
    Prepared,
    collectstatic,
    django_env,
    drop_bench_database,
    run_quiet,
    snapshot,
    snapshot_json,
)

ROOM_COUNT = 200
ROOMS_PER_USER = 20
# The Channels tutorial as it is written (AuthMiddlewareStack) with logged-in clients, on
# the first tree's sessions: Channels' own floor for an authenticated connect.
TUTORIAL_AUTH = "tutorial+auth"


@dataclass
class Tree:
    label: str
    prepared: Prepared
    database_url: str
    sessions: list[str] = field(default_factory=list)
    used: int = 0

    def take(self, count: int) -> list[str]:
        """Sessions nobody connected with yet."""
        taken = self.sessions[self.used : self.used + count]
        if len(taken) < count:
            raise RuntimeError(f"{self.label}: out of fresh sessions")
        self.used += count
        return taken


def room_slug(index: int) -> str:
    return f"cc-{index:03d}"


def user_rooms(user: int) -> list[int]:
    """User u is in 20 distinct rooms spread over all 200 (each room: users/10 members)."""
    step = ROOM_COUNT // ROOMS_PER_USER
    return [(user + k * step) % ROOM_COUNT for k in range(ROOMS_PER_USER)]


# --- preparing a tree ----------------------------------------------------------------


def prepare_tree(
    label: str, code: Path, admin_url: str, pg_db: str, users: int, history: int
) -> Tree:
    tmp = Path(tempfile.mkdtemp(prefix="chat-connect-cost-"))
    prepared = Prepared(
        tmp, tmp / "src", tmp / "static", f"bench-{secrets.token_urlsafe(32)}", admin_url=admin_url
    )
    prepared.pg_db = pg_db
    prepared.code_hash = snapshot(prepared.src, code)
    collectstatic(prepared)
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {pg_db}")
    url = f"{admin_url.rsplit('/', 1)[0]}/{pg_db}"
    env = django_env(prepared, url)
    run_quiet(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env, "migrate", prepared.src
    )
    rooms_file, members_file, out = tmp / "rooms.json", tmp / "members.json", tmp / "out.json"
    rooms_file.write_text(json.dumps([room_slug(i) for i in range(ROOM_COUNT)]))
    members: dict[int, list[int]] = {i: [] for i in range(ROOM_COUNT)}
    for user in range(users):
        for room in user_rooms(user):
            members[room].append(user)
    members_file.write_text(json.dumps([[room_slug(r), m] for r, m in members.items()]))
    argv = [sys.executable, "-m", "bench.prepare", str(out), "--users", str(users)]
    argv += ["--rooms", str(rooms_file), "--memberships", str(members_file)]
    run_quiet(argv, env, "bench.prepare", prepared.src)
    seed = [sys.executable, "-m", "bench.connect_cost", "--seed-history", str(history)]
    run_quiet(seed, env, "seed history", prepared.src)
    tree = Tree(label, prepared, url)
    tree.sessions = json.loads(out.read_text())["sessions"]
    return tree


def seed_history(history: int) -> None:
    """In the tree's environment: `history` messages in every cc- room, as if posted by
    the first bench user (every member has them unread)."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import transaction

    from chat.models import Message, Room

    author = User.objects.filter(username__startswith="bench").order_by("username").first()
    with transaction.atomic():
        rooms = list(Room.objects.filter(slug__startswith="cc-"))
        Message.objects.bulk_create(
            [
                Message(room=room, seq=seq, author=author, body=f"m{seq}", client_id=f"cc-{seq}")
                for room in rooms
                for seq in range(1, history + 1)
            ],
            batch_size=2000,
        )
        Room.objects.filter(pk__in=[r.pk for r in rooms]).update(last_seq=history)


# --- one measured run ----------------------------------------------------------------


def py_spy(pid: int, out: Path, seconds: float) -> "subprocess.Popen[bytes]":
    """py-spy sampling one daphne (collapsed stacks, one line per stack), until SIGINT."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    argv += ["--gil", "--format", "raw", "-o", str(out)]  # GIL holders: Python CPU
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attach
    return proc


def measure(
    label: str,
    tree: Tree | None,
    args: argparse.Namespace,
    redis: OwnRedis,
    log_dir: Path,
    profile: Path | None = None,
) -> dict[str, Any]:
    prefix = f"cc{secrets.token_hex(4)}"
    if tree is None or label == TUTORIAL_AUTH:
        env = {
            "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
            "BENCH_BASELINE_REDIS_URL": redis.url,
            "BENCH_BASELINE_PREFIX": prefix,
            "PYTHONPATH": str(ROOT),
        }
        if tree is not None:  # the tutorial with AuthMiddlewareStack, on a tree's sessions
            env["BENCH_BASELINE_DATABASE_URL"] = tree.database_url
            env["BENCH_BASELINE_SECRET_KEY"] = tree.prepared.secret_key
        app, probe, cwd = "bench.baseline.asgi:application", "/", ROOT
    else:
        env = {
            **django_env(tree.prepared, tree.database_url),
            "REDIS_URL": redis.url,
            "CHAT_LAYER_PREFIX": prefix,
        }
        app, probe, cwd = "chatsite.asgi:application", "/accounts/login/", tree.prepared.src
    servers: list[Server] = []
    try:
        for index in range(2):
            name = f"{label}-{index}"
            servers.append(start_server(name, app, env, probe, log_dir, cwd, port=free_port()))

        def targets(count: int) -> list[tuple[str, str | None]]:
            cookies = tree.take(count) if tree is not None else [None] * count
            return [
                (
                    f"{servers[i % 2].ws}/ws/chat/"
                    + ("" if app.startswith("chatsite") else f"{room_slug(i % ROOM_COUNT)}/"),
                    f"sessionid={cookie}" if cookie else None,
                )
                for i, cookie in enumerate(cookies)
            ]

        warm = run_client(targets(args.warm), args.in_flight, args.cap_seconds)
        time.sleep(1.0)
        pg = pg_pid_reader(args.postgres_admin_url, tree.prepared.pg_db) if tree else None
        meter = Meter([s.proc.pid for s in servers], [os.getpid()], redis.cpu, pg)
        planned = targets(args.connects)
        spy = py_spy(servers[0].proc.pid, profile, args.cap_seconds + 5) if profile else None
        commands_before = redis.commands()
        meter.start()
        found = run_client(planned, args.in_flight, args.cap_seconds)
        cpu = meter.stop()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        commands_after = redis.commands()
        wall, done = cpu["wall_s"], found["connected"]
        time.sleep(1.0)  # the last closes' presence updates
        left = redis.presence_entries(prefix)
        per_connect = {
            name: round((n - commands_before.get(name, 0)) / done, 2)
            for name, n in commands_after.items()
            if done and n - commands_before.get(name, 0) > 0 and name != "info"
        }

        def ms(pct: float | None) -> float | None:
            return round(10 * pct * wall / done, 3) if pct is not None and done else None

        return {
            "label": label,
            "connects": found,
            "warm_failures": warm["failures"],
            "cpu": cpu,
            "server_ms_per_connect": round(1000 * cpu["server_cpu_s"] / done, 3) if done else None,
            "redis_ms_per_connect": ms(cpu["redis_cpu_pct"]),
            "postgres_ms_per_connect": ms(cpu["postgres_cpu_pct"]),
            "redis_commands_per_connect": round(sum(per_connect.values()), 2),
            "redis_commands": per_connect,
            "presence_entries_left": left,  # every socket closed: should be 0
        }
    finally:
        for server in servers:
            server.stop()
        problems = log_problems([s.log_path for s in servers])
        if problems["count"]:
            print(f"  {label}: {problems['count']} log problems {problems['kinds'][:2]}")


def connect_queries(tree: Tree, redis_url: str) -> dict[str, Any]:
    """bench.connect_queries --rooms 20 in the tree, with Redis: statements and round
    trips of one all-rooms connect."""
    env = {**django_env(tree.prepared, tree.database_url), "REDIS_URL": redis_url}
    found = snapshot_json("bench.connect_queries", ["--rooms", "20"], env, tree.prepared.src)
    if "error" in found:
        return found
    return found["history"]["20"]  # type: ignore[no-any-return]


def median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), 3) if found else None


def summary(rounds: list[list[dict[str, Any]]], labels: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ["tutorial", TUTORIAL_AUTH, *labels]:
        rows = [r for round_ in rounds for r in round_ if r["label"] == label]
        ratios = []
        for round_ in rounds:
            mine = next(r for r in round_ if r["label"] == label)
            tut = next(r for r in round_ if r["label"] == "tutorial")
            if tut["connects"]["connects_per_s"]:
                ratios.append(
                    mine["connects"]["connects_per_s"] / tut["connects"]["connects_per_s"]
                )
        out[label] = {
            "server_ms_per_connect": median([r["server_ms_per_connect"] for r in rows]),
            "redis_ms_per_connect": median([r["redis_ms_per_connect"] for r in rows]),
            "postgres_ms_per_connect": median([r["postgres_ms_per_connect"] for r in rows]),
            "connects_per_s": median([r["connects"]["connects_per_s"] for r in rows]),
            "ratio_to_tutorial": median(ratios),
            "redis_commands_per_connect": median([r["redis_commands_per_connect"] for r in rows]),
            "other_cpu_pct": median([r["cpu"]["other_cpu_pct"] for r in rows]),
            "connect_ms_p50": median([r["connects"]["connect_ms_p50"] for r in rows]),
            "failures": sum(sum(r["connects"]["failures"].values()) for r in rows),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-history", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, nargs="+", default=[ROOT])
    parser.add_argument("--label", nargs="+", help="one per --code (default: the dir names)")
    parser.add_argument("--connects", type=int, default=2000)
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--cap-seconds", type=float, default=60.0)
    parser.add_argument("--history", type=int, default=10, help="messages per room")
    parser.add_argument("--pg-db", default="bench_connect")
    parser.add_argument(
        "--postgres-admin-url", default="postgres://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-port", type=int, default=23379)
    parser.add_argument("--no-queries", action="store_true", help="skip bench.connect_queries")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then one more run of each tree with py-spy on daphne 0 (not in the figures)",
    )
    args = parser.parse_args(argv)
    if args.seed_history is not None:
        seed_history(args.seed_history)
        return 0
    labels = args.label or [path.resolve().name for path in args.code]
    # Fresh sessions for every run of a tree, and for the authenticated tutorial's runs
    # (on the first tree's users).
    users = (2 * args.runs + int(args.profile)) * (args.warm + args.connects)
    log_dir = Path(tempfile.mkdtemp(prefix="chat-connect-cost-logs-"))
    trees: list[Tree] = []
    redis = OwnRedis(args.redis_port, log_dir)
    result: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    try:
        for index, (label, code) in enumerate(zip(labels, args.code, strict=True)):
            print(f"preparing {label} ({code}): {users} users in {ROOMS_PER_USER} rooms each")
            trees.append(
                prepare_tree(
                    label,
                    code,
                    args.postgres_admin_url,
                    f"{args.pg_db}_{index}",
                    users,
                    args.history,
                )
            )
        result["trees"] = {
            t.label: {"code_hash": t.prepared.code_hash, "commit": git_commit(c)}
            for t, c in zip(trees, args.code, strict=True)
        }
        kinds: list[tuple[str, Tree | None]] = [
            ("tutorial", None),
            (TUTORIAL_AUTH, trees[0]),
            *((t.label, t) for t in trees),
        ]
        rounds: list[list[dict[str, Any]]] = []
        for number in range(args.runs):
            order = kinds[number % len(kinds) :] + kinds[: number % len(kinds)]
            round_ = []
            for label, tree in order:
                row = measure(label, tree, args, redis, log_dir)
                c = row["connects"]
                print(
                    f"round {number + 1} {label:>10}: {c['connected']}/{c['attempted']} at"
                    f" {c['connects_per_s']}/s, server {row['server_ms_per_connect']} ms,"
                    f" redis {row['redis_ms_per_connect']} ms, pg"
                    f" {row['postgres_ms_per_connect']} ms, redis cmds"
                    f" {row['redis_commands_per_connect']}, other"
                    f" {row['cpu']['other_cpu_pct']}%, failures {c['failures']},"
                    f" presence entries left {row.get('presence_entries_left')}"
                )
                round_.append(row)
            rounds.append(round_)
        result["rounds"] = rounds
        result["summary"] = summary(rounds, labels)
        if args.profile:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            for tree in trees:
                out = RESULTS_DIR / f"connect-cost-{tree.label}-{time.strftime('%H%M')}.txt"
                measure(tree.label, tree, args, redis, log_dir, profile=out)
                result.setdefault("profiles", {})[tree.label] = str(out)
                print(f"profile of {tree.label}: {out}")
        if not args.no_queries:
            result["queries"] = {t.label: connect_queries(t, redis.url) for t in trees}
    finally:
        redis.stop()
        for tree in trees:
            drop_bench_database(args.postgres_admin_url, tree.prepared.pg_db)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"connect-cost-{time.strftime('%Y-%m-%dT%H%M')}.json"
    path.write_text(json.dumps(result, indent=1))
    print_summary(result)
    print(f"wrote {path}")
    return 0


def git_commit(code: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(code), "status", "--porcelain", "--", "chat", "chatsite", "accounts"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def print_summary(result: dict[str, Any]) -> None:
    print(
        "\n| | server CPU ms/connect | Redis ms | PostgreSQL ms | connects/s | x tutorial"
        " | Redis cmds/connect | other CPU % | failures |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, row in result.get("summary", {}).items():
        print(
            f"| {label} | {row['server_ms_per_connect']} | {row['redis_ms_per_connect']} |"
            f" {row['postgres_ms_per_connect']} | {row['connects_per_s']} |"
            f" {row['ratio_to_tutorial']} | {row['redis_commands_per_connect']} |"
            f" {row['other_cpu_pct']} | {row['failures']} |"
        )
    for label, found in result.get("queries", {}).items():
        if "error" in found:
            print(f"{label}: connect_queries failed: {found['error'][-300:]}")
            continue
        print(
            f"{label}: one connect (20 rooms): {found['queries_until_hello']} SQL to hello,"
            f" {found['queries_after_hello']} after; Redis round trips"
            f" {found.get('redis_round_trips')}; {found.get('statements')}"
            f" {found.get('redis_commands')}"
        )


if __name__ == "__main__":
    sys.exit(main())
