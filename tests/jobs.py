"""Running background jobs in a test: in the test's thread, or as real runner processes."""

import os
import subprocess
import sys
from pathlib import Path

from django_tasks_db.management.commands.db_worker import Worker

from tests.conftest import database_url
from tests.servers import ROOT


def run_due_jobs() -> None:
    """Every due job (django-tasks-db's own Worker, in batch mode), then return."""
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test",
        excluded_queue_names=[],
    ).run()


def worker_env(secret_key: str, **extra: str) -> dict[str, str]:
    """The environment of a `manage.py chat_worker` on the test database, with a short
    lease (a killed worker's job is handed back within about two seconds) and `extra`."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": "",
        "DJANGO_SECRET_KEY": secret_key,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_DEBUG": "0",
        "CHAT_JOB_WORKER": "separate",
        "CHAT_JOB_LEASE_SECONDS": "1.5",
        "CHAT_JOB_POLL_SECONDS": "0.1",
        **extra,
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A real job runner process (`manage.py chat_worker`), its output appended to log."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "chat_worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
