"""Startup to ready of one daphne process, repeated: spawn -> listening (its log says so)
-> first 200 from /readyz, and the CPU it used until then; and, in a separate
interpreter, the import of the application
(Django's setup included) with the heaviest imports. Prints JSON.

    DATABASE_URL=postgres://… REDIS_URL=redis://…/N DJANGO_SECRET_KEY=… \\
        .venv/bin/python -m bench.startup_time [--runs 5] [--port 24500]

Needs a migrated database (/readyz reads it). Only 127.0.0.1.
"""

# ruff: noqa: S603 - this venv's python, fixed argv

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 60.0
DAPHNE = (sys.executable, "-m", "daphne")
PREPARE = (sys.executable, "-m", "bench.prepare")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn_daphne(port: int, log_path: Path) -> "subprocess.Popen[bytes]":
    """One daphne of this tree on 127.0.0.1:`port`, its output in `log_path`."""
    env = {"DJANGO_SETTINGS_MODULE": "chatsite.settings", **os.environ}
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [*DAPHNE, "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def one_start(port: int, log_dir: Path) -> dict[str, float]:
    log_path = log_dir / f"daphne-{port}.log"
    started = time.monotonic()
    proc = spawn_daphne(port, log_path)
    listening = ready = cpu = 0.0
    refused = 0
    try:
        while time.monotonic() - started < TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text(errors="replace"))
            if not listening and b"Listening on TCP" in log_path.read_bytes():
                listening = time.monotonic() - started
            try:
                url = f"http://127.0.0.1:{port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        ready = time.monotonic() - started
                        cpu = cpu_seconds(proc.pid)
                        break
            except urllib.error.HTTPError as error:
                refused += error.code == 503
            except OSError:
                pass
            time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "listening_s": round(listening, 3),
        "ready_s": round(ready, 3),
        # CPU the process used until ready: on a busy machine the wall time waits for a
        # core; this does not (an idle machine's ready_s is about this plus the I/O).
        "cpu_s": round(cpu, 3),
        "refused_503": refused,
    }


def restart_with_sockets(port: int, log_dir: Path, sockets: int) -> dict[str, Any]:
    """One process holding `sockets` authenticated chat sockets (users prepared by
    bench/prepare.py in DATABASE_URL): SIGTERM -> exited, then a new one's start ->
    ready. Its log's warning/error lines are counted."""
    import asyncio

    from bench.daphnes import log_problems
    from bench.loadgen import ClientSpec, Worker
    from bench.preparing import ABUSE_LIMITS

    rooms = log_dir / "rooms.json"
    rooms.write_text(json.dumps(["restart-0"]))
    out = log_dir / "prepared.json"
    subprocess.run(
        [*PREPARE, str(out), "--users", str(sockets), "--rooms", str(rooms)],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "chatsite.settings", **os.environ},
        check=True,
        timeout=600,
    )
    keys = json.loads(out.read_text())["sessions"]
    os.environ.update(ABUSE_LIMITS)
    log_path = log_dir / f"daphne-held-{port}.log"
    proc = spawn_daphne(port, log_path)
    origin = f"http://127.0.0.1:{port}"
    specs = [
        ClientSpec(i, f"ws://127.0.0.1:{port}/ws/chat/restart-0/", origin, f"sessionid={k}", "x")
        for i, k in enumerate(keys)
    ]

    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:  # until it answers
        try:
            with urllib.request.urlopen(f"{origin}/readyz", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.1)

    async def hold() -> dict[str, Any]:
        worker = Worker(specs)
        connected = await worker.connect(64)
        await asyncio.sleep(1.0)
        sent = time.monotonic()
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, TIMEOUT_S)
        stopped = time.monotonic() - sent
        await worker.close()
        return {"connected": connected["connected"], "stop_s": round(stopped, 3)}

    held = asyncio.run(hold())
    if proc.poll() is None:
        proc.kill()
    held["start"] = one_start(port, log_dir)
    held["total_s"] = round(held["stop_s"] + held["start"]["ready_s"], 3)
    problems = log_problems([log_path])
    held["log_problems"] = problems["count"]
    held["log_problem_kinds"] = problems["kinds"][:3]
    held["graceful_lines"] = [
        line[:200]
        for line in log_path.read_text(errors="replace").splitlines()
        if "graceful shutdown" in line or "Killed" in line
    ]
    return held


def imports() -> dict[str, Any]:
    """Import time of chatsite.asgi (django.setup included), and its heaviest parts."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import chatsite.asgi"],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "chatsite.settings", **os.environ},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if found:
            rows.append((int(found[2]), len(found[3]), found[4]))
    total = next((us for us, _, name in rows if name == "chatsite.asgi"), 0)
    top = sorted((r for r in rows if r[1] <= 5), reverse=True)[:12]
    return {
        "chatsite_asgi_s": round(total / 1e6, 3),
        "heaviest": [{"module": name, "s": round(us / 1e6, 3)} for us, _, name in top],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=24500)
    parser.add_argument(
        "--sockets", type=int, default=0, help="also: SIGTERM with this many sockets open"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        starts = [one_start(args.port, Path(tmp)) for _ in range(args.runs)]
        ready = sorted(s["ready_s"] for s in starts)
        result: dict[str, Any] = {
            "starts": starts,
            "ready_s_median": ready[len(ready) // 2] if ready else None,
        }
        if args.sockets:
            result["restart"] = restart_with_sockets(args.port, Path(tmp), args.sockets)
    result["imports"] = imports()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
