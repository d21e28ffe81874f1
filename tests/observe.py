"""Helpers for the observability and deployment tests: scraping /metrics, reading JSON
log lines, and keeping many-process tests to the PostgreSQL pass."""

import json
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import ROOT, Daphne, free_port, start_daphne

METRICS_TOKEN = "test-metrics-token"


def postgres_only() -> None:
    """Real-server tests that prove deployment behaviour, not database behaviour: they run
    once, in the PostgreSQL pass (python -m tests), not again on SQLite."""
    if connection.vendor != "postgresql":
        pytest.skip("deployment test: runs in the PostgreSQL pass only")


def http_get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def scrape(base_url: str, token: str = METRICS_TOKEN) -> dict[tuple[str, tuple[Any, ...]], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    status, _, body = http_get(f"{base_url}/metrics", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    samples: dict[tuple[str, tuple[Any, ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[Any, ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every line of a JSON-format log, parsed (fails on any line that is not JSON)."""
    records = []
    for line in log.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                pytest.fail(f"log line is not JSON: {line!r}")
    return records


def events(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [record for record in records if record.get("event") == name]


# --- daphne started as deploy/ starts it ------------------------------------------------

UNIT_FILE = ROOT / "deploy" / "systemd" / "chat@.service"
SUPERVISOR_FILE = ROOT / "deploy" / "supervisor" / "chat.conf"


def unit_daphne_args(port: int) -> list[str]:
    """daphne's arguments from the systemd unit's ExecStart, for the instance `port`."""
    for line in UNIT_FILE.read_text().splitlines():
        if line.startswith("ExecStart="):
            argv = shlex.split(line.removeprefix("ExecStart="))
            assert argv[0].endswith("/daphne"), argv
            return [arg.replace("%i", str(port)) for arg in argv[1:]]
    raise AssertionError("no ExecStart in the unit")


def unit_environment() -> dict[str, str]:
    """The unit's own Environment= lines (the EnvironmentFile is the test's env)."""
    found: dict[str, str] = {}
    for line in UNIT_FILE.read_text().splitlines():
        if line.startswith("Environment="):
            name, _, setting = line.removeprefix("Environment=").partition("=")
            found[name] = setting
    return found


def start_from_unit(
    env: dict[str, str], log_dir: Path, name: str, port: int | None = None
) -> Daphne:
    """A daphne started with the unit's flags and environment (the test's env on top,
    as the EnvironmentFile would be), answering its health check."""
    return start_daphne(
        {**unit_environment(), **env},
        log_dir,
        name,
        port,
        daphne_args=unit_daphne_args,
        probe="/healthz",
    )


# --- a Redis server of the test's own (stopped and started again on the same port) -----


class OwnRedis:
    def __init__(self) -> None:
        if not shutil.which("redis-server") or not shutil.which("redis-cli"):
            pytest.skip("redis-server binary not installed")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        ping = ["redis-cli", "-p", str(self.port), "ping"]
        while subprocess.run(ping, capture_output=True, check=False).stdout.strip() != b"PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
