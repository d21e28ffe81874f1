"""The incoming-hooks bench's set-up (bench/hooks.py): the code snapshot, a PostgreSQL
database of its own with users, sessions and the hooks (made with `manage.py webhook
create`), the servers' environment, and the Redis keys forgotten at the end."""

import argparse
import contextlib
import io
import json
import secrets
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.preparing import (
    Prepared,
    ceiling,
    collectstatic,
    django_env,
    run_quiet,
    snapshot,
)

ROOM = "hooks-bench"
BASE_URL = "http://127.0.0.1"  # the printed URL's path is used, on each process's port


def make_hooks(out: Path, room: str, count: int) -> None:
    """(Run in the snapshot with the server's environment.) Hooks 1..count-1 through
    call_command; hook 0 was made by the real command line. Writes their URLs."""
    import django

    django.setup()
    from django.core.management import call_command

    urls: list[str] = json.loads(out.read_text()) if out.exists() else []
    for index in range(len(urls), count):
        printed = io.StringIO()
        call_command(
            "webhook",
            "create",
            "--room",
            room,
            "--name",
            f"bench-{index:04d}",
            "--base-url",
            BASE_URL,
            stdout=printed,
        )
        urls.append(printed.getvalue().strip().splitlines()[-1])
    out.write_text(json.dumps(urls))


def prepare(args: argparse.Namespace, say: Callable[[str], None]) -> tuple[Prepared, list[str]]:
    """The snapshot, static files, the database (migrated, users with sessions and their
    memberships, the hooks) and the database's ceiling. Returns the session keys."""
    tmp = Path(tempfile.mkdtemp(prefix="chat-bench-hooks-"))
    prepared = Prepared(
        tmp, tmp / "src", tmp / "static", f"bench-{secrets.token_urlsafe(32)}", pg_db=args.pg_db
    )
    prepared.admin_url = args.postgres_admin_url
    prepared.code_hash = snapshot(prepared.src, args.code)
    say(f"code snapshot {prepared.code_hash} in {prepared.src}; collectstatic")
    collectstatic(prepared)
    import psycopg

    with psycopg.connect(args.postgres_admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {args.pg_db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {args.pg_db}")
    url = f"{args.postgres_admin_url.rsplit('/', 1)[0]}/{args.pg_db}"
    prepared.database_urls["postgresql"] = url
    env = django_env(prepared, url)
    say("migrate")
    run_quiet(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env, "migrate", tmp / "src"
    )
    say(f"{args.listeners} users with sessions, members of {ROOM}")
    (tmp / "rooms.json").write_text(json.dumps([ROOM]))
    (tmp / "members.json").write_text(json.dumps([[ROOM, list(range(args.listeners))]]))
    run_quiet(
        [
            *(sys.executable, "-m", "bench.prepare", str(tmp / "users.json")),
            *("--users", str(args.listeners), "--rooms", str(tmp / "rooms.json")),
            *("--memberships", str(tmp / "members.json")),
        ],
        env,
        "bench.prepare",
        tmp / "src",
    )
    sessions: list[str] = json.loads((tmp / "users.json").read_text())["sessions"]
    say(f"{args.hooks} hooks (manage.py webhook create)")
    first = run_quiet(
        [
            sys.executable,
            "manage.py",
            "webhook",
            "create",
            "--room",
            ROOM,
            "--name",
            "bench-0000",
            "--base-url",
            BASE_URL,
        ],
        env,
        "manage.py webhook create",
        tmp / "src",
    )
    hooks_file = tmp / "hooks.json"
    hooks_file.write_text(json.dumps([first.strip().splitlines()[-1]]))
    run_quiet(
        [
            sys.executable,
            "-m",
            "bench.hooks",
            "--make-hooks",
            str(hooks_file),
            "--hooks",
            str(args.hooks),
        ],
        env,
        "webhook create (call_command)",
        tmp / "src",
    )
    if args.ceiling_seconds > 0:
        say(f"the database's own ceiling ({args.ceiling_seconds} s a shape)")
        prepared.ceiling["postgresql"] = ceiling(env, tmp / "src", args.ceiling_seconds)
    return prepared, sessions


def server_env(prepared: Prepared, redis_url: str, prefix: str) -> dict[str, str]:
    return {
        **django_env(prepared, prepared.database_urls["postgresql"]),
        "REDIS_URL": redis_url,
        "CHAT_LAYER_PREFIX": prefix,  # the layer's and the rate limits' keys
        "CHAT_MULTIPROCESS": "1",
        "CHAT_JOB_WORKER": "inprocess",
    }


def forget_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    with contextlib.suppress(redis.RedisError):
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    client.close()
