"""Run the whole suite as CI does: `python -m tests [extra pytest args]`.

Three passes run at the same time, their output printed one after the other: every test
but the browser ones with PostgreSQL as the database; the database tests again on SQLite
(both engines are supported, and seq/locking differs between them), with the tests that
need no database engine at all (engine_free in tests/conftest.py, which then do not run
in the first pass); the browser tests
(tests/e2e/) and the long many-process ones (side_pass) on PostgreSQL with a test
database of their own. When the arguments pick
tests, the browser tests stay in the first pass.
In CI (CI=true) an unreachable PostgreSQL or Redis fails the run; elsewhere the
PostgreSQL pass is skipped with a one-line reason.

The house checks (CHECK_STEPS: ruff, mypy, and whatever else is added there) run as
steps of their own, one after another in a background thread while pytest runs, with
their output printed after the passes. Each counts as one item of the summary, the last
line printed. They are left out when the arguments pick tests (a path, -k or -m), as
`python -m tests tests/test_soak.py` does.
"""

import os
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHECK_TIMEOUT_SECONDS = 900

# Steps run besides pytest: (name, command), run from the repository root; a step passes
# when its command exits 0. Add new steps here (e.g. the JavaScript tests).
BIN = Path(sys.executable).parent
CHECK_STEPS: list[tuple[str, list[str]]] = [
    ("ruff check", [sys.executable, "-m", "ruff", "check", "."]),
    ("ruff format", [sys.executable, "-m", "ruff", "format", "--check", "."]),
    (
        "mypy",
        [
            sys.executable,
            "-m",
            "mypy",
            "chat",
            "chatsite",
            "tests",
            "accounts",
            "notify",
            "integrations",
            "dataport",
        ],
    ),
    # The layers of docs/architecture.md, on every import (.importlinter).
    ("import contracts", [str(BIN / "lint-imports")]),
    # The page's JavaScript: ESLint and the unit tests of its pure modules (tests/js/),
    # with the versions package-lock.json pins.
    ("npm ci", ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]),
    ("eslint", ["npx", "--no-install", "eslint", "."]),
    ("node --test", ["node", "--test", "tests/js/"]),
]


@dataclass
class StepResult:
    name: str
    passed: bool
    output: str


def run_steps(steps: list[tuple[str, list[str]]], results: list[StepResult]) -> None:
    """One at a time: the machine's cores are mostly pytest's and its servers'."""
    for name, command in steps:
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=CHECK_TIMEOUT_SECONDS,
                check=False,
            )
            passed, output = done.returncode == 0, done.stdout + done.stderr
        except (OSError, subprocess.TimeoutExpired) as error:
            passed, output = False, f"{error}\n"
        results.append(StepResult(name, passed, output))


def picks_tests(args: list[str]) -> bool:
    """True when the pytest arguments select tests (a file or node id, -k, -m)."""
    for arg in args:
        if arg in {"-k", "-m"} or arg.startswith(("-k=", "-m=")):
            return True
        if not arg.startswith("-") and (ROOT / arg.split("::")[0]).exists():
            return True
    return False


def browser_database(url: str) -> str:
    """The same server with another database name, so that the browser pass's test
    database (test_<name>_browser) is not the other PostgreSQL pass's."""
    base, _, name = url.rpartition("/")
    return f"{base}/{name or 'test'}_browser"


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def run_pass(
    name: str, database_url: str, args: list[str], report: Path, log: Path | None = None
) -> tuple[int, dict[str, int]]:
    """One pytest run; its output goes to the terminal, or to `log` (printed later by the
    caller) when it runs beside another pass."""
    print(f"\n===== pass: {name} (DATABASE_URL={database_url}) =====", flush=True)
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "pytest", f"--junitxml={report}", *args]
    if log is None:
        code = subprocess.call(command, cwd=ROOT, env=env)
    else:
        with log.open("w") as out:
            code = subprocess.call(command, cwd=ROOT, env=env, stdout=out, stderr=out)
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
    if postgres_reachable() and picks_tests(extra):
        passes.append(("postgresql", POSTGRES_URL, extra))
        passes.append(("sqlite", sqlite_url, ["-m", "orm and not browser", *extra]))
    elif postgres_reachable():
        # The browser tests are a pass of their own beside the others, with a test
        # database of their own (Django names it after the URL's database: test_<name>),
        # joined by the long many-process tests (side_pass) so that the passes end together.
        passes.append(
            (
                "postgresql",
                POSTGRES_URL,
                ["-m", "not browser and not side_pass and not engine_free", *extra],
            )
        )
        # The layout test's pages (sqlite_browser) move here from the browser pass, and
        # the tests that need no database engine (engine_free) from the PostgreSQL pass.
        passes.append(
            (
                "sqlite",
                sqlite_url,
                ["-m", "orm and not browser or sqlite_browser or engine_free", *extra],
            )
        )
        passes.append(
            (
                "postgresql: browser and many-process",
                browser_database(POSTGRES_URL),
                ["-m", "browser and not sqlite_browser or side_pass"],
            )
        )
    elif IN_CI:
        print(f"PostgreSQL at {POSTGRES_URL} is required in CI but unreachable.", flush=True)
        return 1
    else:
        print(f"PostgreSQL unreachable at {POSTGRES_URL}: running on SQLite only.", flush=True)
        passes.append(("sqlite", sqlite_url, extra))

    steps = [] if picks_tests(extra) else CHECK_STEPS
    step_results: list[StepResult] = []
    # npm ci before pytest, not beside it: it empties node_modules/ first, and the browser
    # layout test reads node_modules/axe-core while it runs.
    first = [step for step in steps if step[0] == "npm ci"]
    run_steps(first, step_results)
    steps = [step for step in steps if step not in first]
    checks = threading.Thread(target=run_steps, args=(steps, step_results), daemon=True)
    checks.start()

    failed = False
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    with tempfile.TemporaryDirectory() as tmp:
        # The later passes run beside the first one (their output printed after it):
        # much of a pass is waiting on servers, browsers and timeouts, so two passes on
        # two cores took 690 s where one after the other took 890 s.
        side: list[tuple[int, dict[str, int]]] = []
        later = passes[1:]
        logs = [Path(tmp) / f"pass{index + 1}.log" for index in range(len(later))]
        beside = [
            threading.Thread(
                target=lambda n=name, u=url, a=args, i=index: side.append(
                    run_pass(n, u, a, Path(tmp) / f"pass{i + 1}.xml", logs[i])
                )
            )
            for index, (name, url, args) in enumerate(later)
        ]
        for thread in beside:
            thread.start()
        name, url, args = passes[0]
        results = [run_pass(name, url, args, Path(tmp) / "pass0.xml")]
        for thread in beside:
            thread.join()
        for log in logs:
            print(log.read_text() if log.exists() else "", flush=True)
        for code, counts in results + side:
            failed |= code != 0
            for key in totals:
                totals[key] += counts[key]

    checks.join()
    for step in step_results:
        print(f"\n===== step: {step.name}: {'passed' if step.passed else 'FAILED'} =====")
        if not step.passed or step.output.strip():
            print(step.output.rstrip())
    step_failures = sum(not step.passed for step in step_results)
    failed |= step_failures > 0

    bad = totals["failures"] + totals["errors"] + step_failures
    skipped = totals["skipped"]
    passed = totals["tests"] - totals["failures"] - totals["errors"] - skipped
    passed += len(step_results) - step_failures
    print(f"\ntests: {passed} passed, {bad} failed, {skipped} skipped", flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
