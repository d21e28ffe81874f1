"""The job runner: django-tasks-db's Worker, plus the crash recovery it lacks. A claimed
job stays RUNNING forever if its process is killed; here every runner beats a WorkerBeat
row and hands back to the queue the jobs of runners that stopped beating (the reaper).

Runs in a daemon thread of each daphne process (CHAT_JOB_WORKER=inprocess, started from
chatsite/asgi.py) or in the foreground (`manage.py chat_worker`). Jobs themselves are
notify/tasks.py's; this module never decides what a job does.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker, validate_worker_id
from django_tasks_db.models import DBTaskResult

from accounts.identity import ldap_jobs
from chat.database.outage import OutageLog
from notify.models import WorkerBeat

logger = logging.getLogger(__name__)

# Jobs looked at per reaping: the query stays bounded whatever piled up.
REAP_BATCH = 100
# Finished jobs (their result and traceback) are kept this long, then deleted, so the
# table the claim and the reaper read stays small; beats of long-gone runners too.
KEEP_FINISHED_SECONDS = 7 * 24 * 3600
PRUNE_EVERY_SECONDS = 600
PRUNE_BATCH = 1000
# A stopping daphne waits this long for the job in hand before exiting anyway (the job
# is then handed back by the reaper, one lease later).
STOP_WAIT_SECONDS = 10.0
# After the Worker's loop failed (the database went away), try again this much later.
RESTART_DELAY_SECONDS = 5.0

# Periodic jobs of the apps above notify (dataport/), which notify may not import: their
# AppConfig.ready() adds an "ensure the next run is queued" callable here, called at
# every beat like ldap_sync_ensure (one cheap query when the next run is queued).
periodic: list[Callable[[], object]] = []


def worker_id_new() -> str:
    """host-pid-random: unique across hosts and restarts, readable in the admin."""
    host = socket.gethostname()[:40] or "host"
    return validate_worker_id(f"{host}-{os.getpid()}-{get_random_string(8)}")


def beat(worker_id: str, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if not WorkerBeat.objects.filter(worker_id=worker_id).update(beat_at=now):
        WorkerBeat.objects.update_or_create(worker_id=worker_id, defaults={"beat_at": now})


def jobs_reap(*, lease_seconds: float, now: datetime | None = None) -> int:
    """Hand back to the queue (READY) the jobs whose last claimer has not beaten for a
    lease, and were claimed over a lease ago (a claim younger than that may belong to a
    runner whose first beat is not seen yet). Two queries plus one conditional UPDATE per
    dead job: a job claimed again or handed back by another reaper meanwhile has another
    started_at or status, so the UPDATE changes nothing. Returns how many were handed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=lease_seconds)
    claimed = list(
        DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
        .order_by("started_at")
        .values_list("id", "started_at", "worker_ids")[:REAP_BATCH]
    )
    if not claimed:
        return 0
    last = {job_id: (ids[-1] if ids else "") for job_id, _, ids in claimed}
    alive = set(
        WorkerBeat.objects.filter(
            worker_id__in=set(last.values()), beat_at__gte=cutoff
        ).values_list("worker_id", flat=True)
    )
    handed = 0
    for job_id, started_at, _ in claimed:
        if last[job_id] in alive:
            continue
        if DBTaskResult.objects.filter(
            pk=job_id, status=TaskResultStatus.RUNNING, started_at=started_at
        ).update(status=TaskResultStatus.READY):
            handed += 1
            logger.warning(
                "job %s: runner %s stopped beating; job handed back", job_id, last[job_id]
            )
    return handed


def jobs_prune(now: datetime | None = None) -> int:
    """Delete finished jobs and beats older than KEEP_FINISHED_SECONDS (bounded)."""
    old = (now or timezone.now()) - timedelta(seconds=KEEP_FINISHED_SECONDS)
    finished = DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED], finished_at__lt=old
    )
    ids = list(finished.values_list("id", flat=True)[:PRUNE_BATCH])
    deleted, _ = DBTaskResult.objects.filter(pk__in=ids).delete()
    WorkerBeat.objects.filter(beat_at__lt=old).delete()
    return deleted


class Runner:
    """One runner: the Worker claims and runs jobs in the calling thread; a keeper thread
    beats and reaps every third of the lease, so a job longer than the lease keeps it."""

    def __init__(self, *, worker_id: str | None = None, startup_delay: bool = True) -> None:
        self.worker_id = worker_id or worker_id_new()
        self.lease_seconds = settings.CHAT_JOB_LEASE_SECONDS
        self.worker = Worker(
            queue_names=["*"],
            interval=settings.CHAT_JOB_POLL_SECONDS,
            batch=False,
            backend_name="default",
            startup_delay=startup_delay,
            max_tasks=None,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )
        self._stopping = threading.Event()
        # A database restart: one warning for the runner and one when it is back (the
        # keeper's next beat), not a traceback every few seconds.
        self.outages = OutageLog(logger, f"job runner {self.worker_id}")

    def run(self) -> None:
        """Run jobs until stop() (or the Worker's own signal handling) ends the loop."""
        beat(self.worker_id)  # before the first claim: a claim always has a live beat
        keeper = threading.Thread(target=self._keep, name=f"jobs-keeper-{self.worker_id}")
        keeper.daemon = True
        keeper.start()
        try:
            while True:
                try:
                    self.worker.run()  # returns once stop() cleared worker.running
                    break
                except Exception as error:
                    # The Worker re-raises database errors other than "locked": a database
                    # restart must not leave a daphne process without its runner.
                    self.outages.failed(error, f"job runner {self.worker_id}: worker loop failed")
                    if self._stopping.wait(RESTART_DELAY_SECONDS):
                        break
                    close_old_connections()
        finally:
            self._stopping.set()
            keeper.join(timeout=5)
            if not self.worker.running_task:  # nothing claimed left behind: no lease to keep
                try:
                    WorkerBeat.objects.filter(worker_id=self.worker_id).delete()
                except DatabaseError:
                    logger.exception("could not remove the beat of %s", self.worker_id)
            connection.close()
            logger.info("job runner %s stopped", self.worker_id)

    def stop(self) -> None:
        """Ask the loop to end after the job in hand (at most one poll interval idle)."""
        self.worker.running = False
        self._stopping.set()

    def _keep(self) -> None:
        every = self.lease_seconds / 3
        prune_at = time.monotonic()
        try:
            while True:
                try:
                    beat(self.worker_id)
                    jobs_reap(lease_seconds=self.lease_seconds)
                    # Periodic jobs queue their next run here (no query when they are off).
                    ldap_jobs.ldap_sync_ensure()
                    for ensure in periodic:
                        ensure()
                    if time.monotonic() >= prune_at:
                        jobs_prune()
                        prune_at = time.monotonic() + PRUNE_EVERY_SECONDS
                except DatabaseError as error:
                    # A database away for a moment costs a beat, not the runner; away for
                    # a whole lease, this runner's job may be run again by another one
                    # (every job is safe to run twice, notify/tasks.py).
                    self.outages.failed(error, f"job runner {self.worker_id}: beat or reap failed")
                    close_old_connections()
                else:
                    self.outages.ok()
                if self._stopping.wait(every):
                    return
        finally:
            connection.close()


_in_process: tuple[Runner, threading.Thread] | None = None
_in_process_lock = threading.Lock()


def in_process_wanted() -> bool:
    """Whether this daphne process runs jobs itself (CHAT_JOB_WORKER=inprocess).
    tests/settings.py turns it off: Channels' in-process tests import the application."""
    return settings.CHAT_JOB_WORKER == "inprocess" and getattr(
        settings, "CHAT_JOB_INPROCESS_AUTOSTART", True
    )


def in_process_start() -> Runner:
    """Start this process's runner thread (once per process)."""
    global _in_process
    with _in_process_lock:
        if _in_process is None:
            runner = Runner()
            thread = threading.Thread(target=runner.run, name="jobs-runner", daemon=True)
            thread.start()
            _in_process = (runner, thread)
            logger.info("job runner %s started in process %d", runner.worker_id, os.getpid())
        return _in_process[0]


def in_process_stop(timeout: float = STOP_WAIT_SECONDS) -> None:
    """Stop this process's runner; wait (bounded) for the job in hand."""
    global _in_process
    with _in_process_lock:
        found, _in_process = _in_process, None
    if found is not None:
        runner, thread = found
        runner.stop()
        thread.join(timeout)
