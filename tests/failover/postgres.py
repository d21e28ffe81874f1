"""A PostgreSQL server of a test's own: Debian's binaries (initdb in a temporary
directory, trust authentication, loopback only), which the test may stop and start again
on the same port and data. The suite's shared server is never restarted.

PostgreSQL refuses to run as root: when the tests run as root the server runs as the
`postgres` system user (as Debian's own scripts do), through runuser.
"""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.servers import ROOT, free_port


def _newest_bin() -> Path:
    """Debian's newest installed server version (.ci/run installs `postgresql`)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = Path(os.environ.get("TEST_PG_BIN") or _newest_bin())
SERVER_USER = "postgres"  # the OS user the server runs as when the tests run as root
START_TIMEOUT_SECONDS = 30


@dataclass
class OwnPostgres:
    """One server: `start()`, `stop()` (fast: sessions are cut, as a restart does) and
    `url(name)` for a database on it."""

    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}\n{done.stderr}\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        # fsync off: the test's data need not survive a crash of the machine, only a
        # restart of the server, which a clean stop always gives.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
            "-t", str(START_TIMEOUT_SECONDS), "start",
        )  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown: open sessions are terminated, as in a restart or failover."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a fixed name of the test's


def available() -> bool:
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        if os.geteuid() == 0:
            return False
    as_root_ok = os.geteuid() != 0 or shutil.which("runuser") is not None
    return (PG_BIN / "initdb").exists() and as_root_ok


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A started server in a new temporary directory, stopped and removed after."""
    root = Path(tempfile.mkdtemp(prefix="chat-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    server = OwnPostgres(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            try:
                server.stop()
            except RuntimeError:
                subprocess.run(
                    [str(PG_BIN / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"],
                    check=False,
                    capture_output=True,
                )
        shutil.rmtree(root, ignore_errors=True)


PREPARE = """
from django.contrib.auth.models import User
from django.core.management import call_command
from chat import services
from chat.models import Room
call_command("migrate", verbosity=0, interactive=False)
for slug in {slugs!r}:
    Room.objects.get_or_create(slug=slug, defaults={{"name": slug}})
for name in {users!r}:
    user = User.objects.create_user(username=name, password={password!r})
    for slug in {slugs!r}:
        services.room_join(user=user, slug=slug)
    print("TOKEN", name, services.token_create(user=user, name="test").secret)
"""


def prepare(
    env: dict[str, str], users: list[str], slugs: list[str], password: str
) -> dict[str, str]:
    """Migrate the database env's DATABASE_URL names, then add users with `password`,
    each a member of every room in `slugs` (one process: Django starts once). Returns
    each user's API token."""
    code = PREPARE.format(users=users, slugs=slugs, password=password)
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
        check=True,
        capture_output=True,
        text=True,
    )
    words = [line.split() for line in done.stdout.splitlines() if line.startswith("TOKEN ")]
    return {name: secret for _, name, secret in words}
