"""deploy/supervisor/chat.conf run by a real supervisord (Supervisor from PyPI),
templated only for paths, ports and the number of processes: it starts the daphne
processes, starts again one that crashes, and a requested stop is graceful (open
sockets are closed with 1012) and is not followed by a restart; its job worker program
runs jobs."""

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import websockets
from django.contrib.auth.models import User
from websockets.typing import Origin

from chat.models import Room
from tests.conftest import session_cookie
from tests.observe import SUPERVISOR_FILE, http_get, postgres_only
from tests.servers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROCESSES = 2
BIN = Path(sys.executable).parent


@dataclass
class Supervised:
    conf: Path
    proc: subprocess.Popen[bytes]
    ports: list[int]
    log_dir: Path

    def ctl(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return done.stdout

    def status(self, name: str) -> str:
        return self.ctl("status", f"chat:{name}").split()[1]

    def pid(self, name: str) -> int:
        """The process's pid, 0 while it is not running."""
        answer = self.ctl("pid", f"chat:{name}").strip()
        return int(answer) if answer.isdigit() else 0

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")


def free_port_prefix() -> str:
    """A prefix P such that ports P01..P0n are free (the file numbers ports 80%02d)."""
    for prefix in range(100, 300):  # ports 10001-29902: below the ephemeral range
        ports = [int(f"{prefix}{n:02}") for n in range(1, PROCESSES + 1)]
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return str(prefix)
    raise AssertionError("no free port range")


def render(env_file: Path, metrics: Path, log_dir: Path, prefix: str) -> str:
    text = SUPERVISOR_FILE.read_text()
    for old, new in {
        "/etc/chat/chat.env": str(env_file),
        "/srv/chat/app/.venv/bin/daphne": str(BIN / "daphne"),
        "/srv/chat/app/.venv/bin/python": sys.executable,
        "directory=/srv/chat/app": f"directory={ROOT}",
        "/run/chat-metrics": str(metrics),
        "/var/log/chat": str(log_dir),
        "--port 80%(process_num)02d": f"--port {prefix}%(process_num)02d",
        "numprocs=4": f"numprocs={PROCESSES}",
        "user=chat\n": "",  # the test runs as whoever runs it
    }.items():
        assert old in text, f"{old!r} is no longer in {SUPERVISOR_FILE.name}"
        text = text.replace(old, new)
    return text


def wait_until(check: object, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def healthy(port: int) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


@pytest.fixture
def supervised(server_env: dict[str, str], tmp_path: Path) -> Iterator[Supervised]:
    postgres_only()
    if not (BIN / "supervisord").exists():
        pytest.fail("supervisord is not installed (it is in the dev dependencies)")
    # The control socket's path must stay under the 108-byte limit of AF_UNIX.
    short = Path(tempfile.mkdtemp(prefix="sv-"))
    metrics, log_dir = tmp_path / "metrics", tmp_path / "logs"
    metrics.mkdir()
    log_dir.mkdir()
    env_file = tmp_path / "chat.env"
    # As a deployment that runs the job worker program: daphne runs no jobs itself.
    env = {**server_env, "CHAT_JOB_WORKER": "separate"}
    env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()))
    prefix = free_port_prefix()
    (tmp_path / "chat.conf").write_text(render(env_file, metrics, log_dir, prefix))
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        f"[unix_http_server]\nfile={short}/s.sock\n"
        f"[supervisord]\nnodaemon=true\nlogfile={tmp_path}/supervisord.log\n"
        f"pidfile={short}/s.pid\nchildlogdir={tmp_path}\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        f"[supervisorctl]\nserverurl=unix://{short}/s.sock\n"
        f"[include]\nfiles = {tmp_path}/chat.conf\n"
    )
    proc = subprocess.Popen(
        [str(BIN / "supervisord"), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ports = [int(f"{prefix}{n:02}") for n in range(1, PROCESSES + 1)]
    # The log files are named after process_name: chat-01.log, chat-02.log.
    running = Supervised(conf, proc, ports, log_dir)
    try:
        wait_until(lambda: all(healthy(port) for port in ports), "daphne processes answer")
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)  # supervisord stops its programs, then itself
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_supervisor_restarts_a_crashed_process_and_stops_one_gracefully(
    supervised: Supervised, alice: User
) -> None:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    wait_until(
        lambda: supervised.status("chat-01") == "RUNNING", "RUNNING after startsecs", seconds=20
    )

    # A crash (SIGKILL): Supervisor starts the process again, on the same port.
    crashed = supervised.pid("chat-01")
    os.kill(crashed, signal.SIGKILL)
    wait_until(lambda: supervised.pid("chat-01") not in (0, crashed), "restarted after a crash")
    wait_until(lambda: healthy(supervised.ports[0]), "the restarted process answers")

    # A requested stop: the open socket is closed with 1012, and nothing restarts it.
    cookie = session_cookie(alice)
    port = supervised.ports[1]

    async def stop_while_connected() -> int | None:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/chat/lobby/",
            additional_headers={"Cookie": cookie},
            origin=Origin(f"http://127.0.0.1:{port}"),
            open_timeout=20,
        ) as ws:
            assert '"hello"' in str(await asyncio.wait_for(ws.recv(), 10))
            await asyncio.to_thread(supervised.ctl, "stop", "chat:chat-02")
            await asyncio.wait_for(ws.wait_closed(), 30)
            return ws.close_code

    assert asyncio.run(stop_while_connected()) == 1012
    assert supervised.status("chat-02") == "STOPPED"
    time.sleep(2)
    assert supervised.status("chat-02") == "STOPPED", "a requested stop is not restarted"
    assert not healthy(port)
    log = supervised.log("chat-02")
    assert "Traceback" not in log, log


def test_supervisor_runs_the_job_worker(supervised: Supervised) -> None:
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from tests.test_jobs import job_record

    def worker_pid() -> int:
        answer = supervised.ctl("pid", "chat-worker").strip()
        return int(answer) if answer.isdigit() else 0

    wait_until(lambda: worker_pid() != 0, "the worker program runs")
    job = job_record.enqueue("supervised")
    wait_until(
        lambda: DBTaskResult.objects.get(pk=job.id).status == TaskResultStatus.SUCCESSFUL,
        "the worker ran the job",
    )
    assert DBTaskResult.objects.get(pk=job.id).return_value == worker_pid()
    assert "Traceback" not in supervised.log("chat-worker")
