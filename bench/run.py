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
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import connecting, report
from bench.config import (
    ALL_RUNS,
    ALLROOMS,
    BENCH_DB,
    CONFIGS,
    DATABASES,
    FULL,
    QUICK,
    RESULTS_DIR,
    ROOT,
    SCENARIOS,
    SETTLE_MAX_SECONDS,
    SHAPES,
    STORM_ROOMS_MAX,
    AllRoomsShape,
)
from bench.daphnes import log_problems
from bench.loadgen import raise_nofile_limit
from bench.meter import load_average
from bench.preparing import drop_bench_database, prepare
from bench.scenarios import Run


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
                        entry["scenarios"]["idle"] = connecting.idle(bench_run)
                        continue
                    if scenario == "allrooms":
                        entry["scenarios"]["allrooms"] = bench_run.allrooms()
                        continue
                    if scenario == "storm":
                        entry["scenarios"]["storm"] = connecting.storm(bench_run)
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
