"""The deploy/ files agree with each other and with the docs: Supervisor runs daphne
exactly as the systemd unit does, and every production setting the docs list is in the
example environment file or set by the units."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.observe import SUPERVISOR_FILE, UNIT_FILE, unit_daphne_args, unit_environment
from tests.servers import ROOT

WORKER_UNIT = UNIT_FILE.with_name("chat-worker.service")


def test_supervisor_starts_daphne_with_the_systemd_units_flags() -> None:
    text = SUPERVISOR_FILE.read_text()
    command = re.search(r"^command=/bin/sh -c '(.*)'$", text, re.MULTILINE)
    assert command, "no command line"
    daphne = shlex.split(command[1].split("exec ", 1)[1])
    assert daphne[0].endswith("/daphne")
    flags = [arg.replace("80%(process_num)02d", "8001") for arg in daphne[1:]]
    assert flags == unit_daphne_args(8001)
    assert "numprocs=4" in text
    assert "stopsignal=TERM" in text
    environment = re.search(r"^environment=(.*)$", text, re.MULTILINE)
    assert environment
    assert (
        dict(
            (name, value.strip('"'))
            for name, value in (pair.split("=", 1) for pair in environment[1].split(","))
        )
        == unit_environment()
    )


def test_every_production_setting_is_in_the_example_env_file_or_the_units() -> None:
    docs = (ROOT / "docs" / "deployment.md").read_text()
    table = docs.split("### The production settings", 1)[1].split("\n\n", 2)[1]
    listed = set(re.findall(r"^\| `([A-Z_]+)`", table, re.MULTILINE))
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "CHAT_TRUSTED_PROXIES"} <= listed
    example = (ROOT / "deploy" / "chat.env.example").read_text()
    in_example = set(re.findall(r"^#?([A-Z_]+)=", example, re.MULTILINE))
    assert listed - in_example - set(unit_environment()) == set()


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own parser finds no unknown key, bad value or missing command in the
    units (templated only for the daphne path; the machine has no systemd init)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (.ci/run installs Debian's systemd)"
    for unit in (UNIT_FILE, UNIT_FILE.with_name("chat.target"), WORKER_UNIT):
        text = (
            unit.read_text()
            .replace("/srv/chat/app/.venv/bin/daphne", str(Path(sys.executable).parent / "daphne"))
            .replace("/srv/chat/app/.venv/bin/python", sys.executable)
        )
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        [analyze, "verify", "--man=no", "chat@8001.service", "chat.target", WORKER_UNIT.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == "", done.stdout + done.stderr


def _lines(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def test_job_worker_runs_alike_under_systemd_and_supervisor() -> None:
    """Both start `manage.py chat_worker` from the app's directory with the same
    environment as the daphne processes, stop it with SIGTERM, and start it with the rest."""
    unit = WORKER_UNIT.read_text()
    (exec_start,) = _lines(unit, "ExecStart")
    assert shlex.split(exec_start) == ["/srv/chat/app/.venv/bin/python", "manage.py", "chat_worker"]
    daphne_unit = UNIT_FILE.read_text()
    for key in ("EnvironmentFile", "WorkingDirectory", "User", "KillSignal", "TimeoutStopSec"):
        assert _lines(unit, key) == _lines(daphne_unit, key), key
    assert _lines(unit, "Environment") == ["CHAT_MULTIPROCESS=1"]
    assert _lines(unit, "PartOf") == _lines(unit, "WantedBy") == ["chat.target"]

    supervisor = SUPERVISOR_FILE.read_text().split("[program:chat-worker]", 1)[1]
    (command,) = _lines(supervisor, "command")
    inner = re.fullmatch(r"/bin/sh -c '(.*)'", command)
    assert inner, command
    assert shlex.split(inner[1].split("exec ", 1)[1]) == shlex.split(exec_start)
    assert ". /etc/chat/chat.env" in inner[1]
    assert _lines(supervisor, "directory") == ["/srv/chat/app"]
    assert _lines(supervisor, "environment") == ['CHAT_MULTIPROCESS="1"']
    assert _lines(supervisor, "stopsignal") == ["TERM"]
