"""The bench's server processes: real daphne (or the baseline app) on a free port, and
the problems their logs show."""

# ruff: noqa: S603 - every subprocess here is this venv's python or py-spy, fixed argv

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import STARTUP_TIMEOUT_SECONDS


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
    started_ns: int = 0  # CLOCK_MONOTONIC when its process was started
    ready_ns: int = 0  # … and when it first answered the probe
    exited_ns: int = 0  # … and when it was seen to exit after stop()

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
            self.exited_ns = time.monotonic_ns()
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
    started = time.monotonic_ns()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, port, proc, log_path, started_ns=started)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{server.http}{probe}", timeout=2) as resp:  # noqa: S310
                server.probe_status = resp.status
        except urllib.error.HTTPError as error:  # up, but the page failed: noted, not fatal
            if error.code == 503:  # starting (chatsite/daphne_adapter/admission.py)
                time.sleep(0.05)
                continue
            server.probe_status = error.code
        except OSError:
            time.sleep(0.05)
            continue
        server.ready_ns = time.monotonic_ns()
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
