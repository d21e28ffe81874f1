"""Run the whole suite as CI does: `python -m tests [extra pytest args]`.

Pass 1 runs every test with PostgreSQL as the database; pass 2 runs the database tests
again on SQLite (both engines are supported, and seq/locking differs between them).
In CI (CI=true) an unreachable PostgreSQL or Redis fails the run; elsewhere the
PostgreSQL pass is skipped with a one-line reason.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def run_pass(
    name: str, database_url: str, args: list[str], report: Path
) -> tuple[int, dict[str, int]]:
    print(f"\n===== pass: {name} (DATABASE_URL={database_url}) =====", flush=True)
    env = {**os.environ, "DATABASE_URL": database_url}
    code = subprocess.call(
        [sys.executable, "-m", "pytest", f"--junitxml={report}", *args], cwd=ROOT, env=env
    )
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if report.exists():
        for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314 - our own file
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    # pytest exits 5 when nothing ran: that is a failure here, not a pass.
    return code, counts


def main() -> int:
    extra = sys.argv[1:]
    sqlite_url = f"sqlite:///{tempfile.gettempdir()}/chat-tests-unused.sqlite3"
    passes: list[tuple[str, str, list[str]]] = []
    if postgres_reachable():
        passes.append(("postgresql", POSTGRES_URL, extra))
        passes.append(("sqlite", sqlite_url, ["-m", "orm and not browser", *extra]))
    elif IN_CI:
        print(f"PostgreSQL at {POSTGRES_URL} is required in CI but unreachable.", flush=True)
        return 1
    else:
        print(f"PostgreSQL unreachable at {POSTGRES_URL}: running on SQLite only.", flush=True)
        passes.append(("sqlite", sqlite_url, extra))

    failed = False
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, url, args) in enumerate(passes):
            code, counts = run_pass(name, url, args, Path(tmp) / f"pass{index}.xml")
            failed |= code != 0
            for key in totals:
                totals[key] += counts[key]
    bad = totals["failures"] + totals["errors"]
    passed = totals["tests"] - bad - totals["skipped"]
    print(f"\ntests: {passed} passed, {bad} failed, {totals['skipped']} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
