"""Preparing a run: the databases (migrated, then seeded by `python -m bench.prepare`:
users with sessions and their memberships), a snapshot of the measured code,
collectstatic; the database ceiling and connect-query snapshots."""

# ruff: noqa: S603 - every subprocess here is this venv's python or py-spy, fixed argv

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import BENCH_DB, ROOT, SHAPES, AllRoomsShape


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
# so the abuse limits (chat/limits/policy.py) are set out of reach, not off: their checks still
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


def snapshot_json(module: str, args: list[str], env: dict[str, str], src: Path) -> dict[str, Any]:
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
    return snapshot_json("bench.connect_queries", [], env, src)


def ceiling(env: dict[str, str], src: Path, seconds: float) -> dict[str, Any]:
    """bench.ceiling on the run's database: the database's own insert rates (scratch
    rooms, deleted after)."""
    return snapshot_json("bench.ceiling", ["--seconds", str(seconds)], env, src)


def drop_bench_database(admin_url: str, pg_db: str) -> None:
    import psycopg

    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn,
    ):
        conn.execute(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")
