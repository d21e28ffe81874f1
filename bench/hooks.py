"""Incoming hooks at 200 requests/s on the production shape (issue #25's bench):

    .venv/bin/python -m bench.hooks [--quick] [--rate 200] [--seconds 30] [--hooks 200]
        [--listeners 20] [--senders 5] [--sender-rate 2] [--pg-db NAME] [--redis-url URL]
        [--out DIR]

Production shape: a PostgreSQL database of its own (created, migrated, dropped at the
end), the Redis channel layer and rate limits, two `daphne chatsite.asgi:application`
processes with CHAT_MULTIPROCESS=1 and the default CHAT_JOB_WORKER=inprocess, as the
deploy/ units run them (without nginx: the generator talks to daphne on 127.0.0.1).

Hooks are made with `manage.py webhook create --room SLUG --name NAME` (the first as a
real command line, the rest through call_command in one process: 200 Django start-ups
would take minutes) in one public room. Each hook posts at rate/hooks per second (1/s
by default: the per-hook limit, 1/s sustained with a burst of 30, is respected, so
every answer should be a 200) to the two processes in turn. Listeners (Django sessions,
as bench/prepare.py makes them) hold sockets to that room spread over both processes;
the first --senders of them are people sending --sender-rate messages/s each.

Two measured phases of --seconds each, after a short warm-up: the people alone, then
the people with the hooks. Reported: the hooks' HTTP answers and request-to-socket
latency, loss (an answered-200 message that did not reach every listener) and
duplicates, the people's send-to-delivery latency in both phases and its ratio, CPU of
the servers, Redis, PostgreSQL and this generator per phase, and the database's own
insert ceiling (bench/ceiling.py). Prints a table; writes JSON to --out.
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import hookload, hooks_report
from bench.config import RESULTS_DIR, ROOT
from bench.daphnes import Server, log_problems, start_server
from bench.hooks_setup import ROOM, forget_redis_keys, make_hooks, prepare, server_env
from bench.meter import Meter, load_average, pg_pid_reader, proc_cpu_s, redis_cpu_reader
from bench.preparing import (
    Prepared,
    drop_bench_database,
)

PROCESSES = hooks_report.PROCESSES
WARMUP_S = 2.0


async def backends_peak(backends: Callable[[], list[int]]) -> int:
    """The most backends the bench database had at once, sampled every 0.5 s until
    cancelled (a sync view's per-request thread opens a connection of its own)."""
    peak = 0
    with contextlib.suppress(asyncio.CancelledError):
        for _ in range(100_000):  # bounded; cancelled at the phase's end
            peak = max(peak, len(await asyncio.to_thread(backends)))
            await asyncio.sleep(0.5)
    return peak


async def load(
    args: argparse.Namespace,
    servers: list[Server],
    hook_paths: list[str],
    sessions: list[str],
    meter: Callable[[], Meter],
    backends: Callable[[], list[int]],
    say: Callable[[str], None],
) -> dict[str, Any]:
    import aiohttp

    targets = [hookload.Target(s.http, s.ws) for s in servers]
    urls = [[f"{t.http}{path}" for t in targets] for path in hook_paths]
    connector = aiohttp.TCPConnector(limit=args.connections, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=hookload.HTTP_TIMEOUT_S)
    room = hookload.Room()
    results: dict[str, Any] = {}
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as http,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as wsession,
    ):
        say(f"{len(sessions)} sockets to {ROOM} over {len(servers)} processes")
        await room.connect(wsession, targets, ROOM, sessions)
        try:
            common = {
                "senders": args.senders,
                "sender_rate": args.sender_rate,
                "drain_s": args.drain,
            }
            say(f"warm-up {WARMUP_S} s")
            warm = await hookload.phase(
                http, room, secrets.token_hex(3), hook_urls=urls, rate=min(args.rate, 20.0),
                seconds=WARMUP_S, **common,
            )  # fmt: skip
            results["warmup"] = hookload.outcome(warm, room)
            if not warm.hook_ok:
                raise RuntimeError(f"no hook answered 200 in the warm-up: {results['warmup']}")
            for name, with_hooks in (("people_alone", False), ("people_and_hooks", True)):
                say(
                    f"{name}: {args.seconds} s"
                    + (f", hooks at {args.rate}/s" if with_hooks else "")
                )
                cpu = meter()
                cpu.start()
                peak = asyncio.create_task(backends_peak(backends))
                traffic = await hookload.phase(
                    http, room, secrets.token_hex(3), hook_urls=urls if with_hooks else None,
                    rate=args.rate, seconds=args.seconds, **common,
                )  # fmt: skip
                peak.cancel()
                results[name] = {
                    **hookload.outcome(traffic, room),
                    "cpu": cpu.stop(),
                    "postgres_backends_max": await peak,
                }
                results[name]["socket_errors"] = dict(room.errors)
        finally:
            await room.close()
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hooks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="5 s phases (validation only)")
    parser.add_argument("--rate", type=float, default=200.0, help="hook requests/s in all")
    parser.add_argument("--seconds", type=float, help="each measured phase (30; quick: 5)")
    parser.add_argument("--hooks", type=int, default=200, help="hooks (rate/hooks each, ≤ 1/s)")
    parser.add_argument("--listeners", type=int, default=20, help="sockets in the room")
    parser.add_argument("--senders", type=int, default=5, help="listeners who also send")
    parser.add_argument("--sender-rate", type=float, default=2.0, help="msg/s each")
    parser.add_argument("--drain", type=float, default=5.0, help="max wait for stragglers, s")
    parser.add_argument("--connections", type=int, default=256, help="HTTP connection pool")
    parser.add_argument("--ceiling-seconds", type=float, help="per shape (3; quick: 1; 0: skip)")
    parser.add_argument("--pg-db", default="chat_bench_hooks", help="created and dropped")
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get(
            "BENCH_POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment of the daphne processes (repeatable), e.g. DJANGO_CONN_MAX_AGE=0",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (daphne logs)")
    parser.add_argument(
        "--code",
        type=Path,
        default=ROOT,
        help="the server code to measure (a checkout of another commit: before -> after)",
    )
    parser.add_argument("--make-hooks", type=Path, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 30.0
    if args.ceiling_seconds is None:
        args.ceiling_seconds = 1.0 if args.quick else 3.0
    if not 0 < args.senders < args.listeners:
        parser.error("--senders must be between 1 and --listeners - 1")
    if args.rate / args.hooks > 1.0:
        print("note: more than 1 request/s a hook: past the burst, 429s are expected")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.make_hooks:
        make_hooks(args.make_hooks, ROOM, args.hooks)
        return 0
    wall0 = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - wall0:6.1f}s] {text}", flush=True)

    started = dt.datetime.now()
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = f"benchhooks{secrets.token_hex(4)}"
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "rate": args.rate,
        "seconds": args.seconds,
        "hooks": args.hooks,
        "listeners": args.listeners,
        "senders": args.senders,
        "sender_rate": args.sender_rate,
        "processes": PROCESSES,
        "cpus": os.cpu_count(),
        "load_average": load_average(),
    }
    prepared: Prepared | None = None
    servers: list[Server] = []
    try:
        prepared, sessions = prepare(args, say)
        report["code_hash"] = prepared.code_hash
        report["ceiling"] = prepared.ceiling.get("postgresql")
        hook_paths = [
            urlsplit(u).path for u in json.loads((prepared.tmp / "hooks.json").read_text())
        ]
        (prepared.tmp / "logs").mkdir()
        extra_env = dict(item.split("=", 1) for item in args.server_env)
        report["server_env"] = extra_env
        for index in range(PROCESSES):
            servers.append(
                start_server(
                    f"hooks-{index}",
                    "chatsite.asgi:application",
                    {**server_env(prepared, args.redis_url, prefix), **extra_env},
                    "/accounts/login/",
                    prepared.tmp / "logs",
                    prepared.src,
                )
            )
        say(f"daphne on ports {[s.port for s in servers]}")

        read_pids = pg_pid_reader(args.postgres_admin_url, args.pg_db)
        known: list[int] = []

        def pids() -> list[int]:
            """This database's backends; the last list read when PostgreSQL refuses a
            connection (all max_connections taken: a finding, not a reason to stop)."""
            import psycopg

            with contextlib.suppress(psycopg.OperationalError):
                known[:] = read_pids()
            return known

        def meter() -> Meter:
            return Meter(
                [s.proc.pid for s in servers],
                [os.getpid()],
                redis_cpu_reader(args.redis_url),
                pids,
            )

        import uvloop

        results = uvloop.run(load(args, servers, hook_paths, sessions, meter, pids, say))
        report["results"] = results
        report["verdict"] = hooks_report.verdict(results)
        extra_cpu = (
            results["people_and_hooks"]["cpu"]["server_cpu_s"]
            - results["people_alone"]["cpu"]["server_cpu_s"]
        )
        report["server_cpu_ms_per_request"] = round(
            1000 * extra_cpu / max(1, results["people_and_hooks"]["hooks"]["sent"]), 2
        )
        report["server_cpu_s_total"] = [round(proc_cpu_s(s.proc.pid), 1) for s in servers]
    finally:
        for server in servers:
            server.stop()
        report["server_log_problems"] = log_problems([s.log_path for s in servers])
        forget_redis_keys(args.redis_url, prefix)
        drop_bench_database(args.postgres_admin_url, args.pg_db)
        report["load_average_at_end"] = load_average()
        report["elapsed_s"] = round(time.monotonic() - wall0, 1)
        path = args.out / f"hooks-{started.strftime('%Y-%m-%dT%H%M%S')}.json"
        path.write_text(json.dumps(report, indent=1, default=str))
        if prepared is not None:
            if args.keep:
                say(f"kept {prepared.tmp}")
            else:
                shutil.rmtree(prepared.tmp, ignore_errors=True)
        say(f"wrote {path}")
    print()
    print(hooks_report.table(report))
    verdict_ok = all(report["verdict"][k] for k in ("p99_under_100ms", "zero_loss"))
    return 0 if verdict_ok else 1


if __name__ == "__main__":
    sys.exit(main())
