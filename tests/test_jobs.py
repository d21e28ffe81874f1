"""The job runner (notify/runner.py): django-tasks-db's Worker with heartbeats and a
reaper. A due job runs; a job claimed by a runner that stopped beating is handed back
and runs once more, never while its runner is alive; a real daphne process runs jobs in
its own thread (CHAT_JOB_WORKER=inprocess)."""

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from notify import runner
from notify.models import WorkerBeat
from tests.servers import start_daphne

RUNS: list[str] = []


@task()
def job_record(label: str) -> int:
    """A job whose runs this process can count; returns the pid that ran it."""
    RUNS.append(label)
    return os.getpid()


def wait_for(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def status(job_id: str) -> str:
    return str(DBTaskResult.objects.get(pk=job_id).status)


@pytest.fixture
def running_runner(transactional_db: None, settings: Any) -> Iterator[runner.Runner]:
    """A runner in a thread of this process, polling often."""
    settings.CHAT_JOB_POLL_SECONDS = 0.05
    settings.CHAT_JOB_LEASE_SECONDS = 1.5
    RUNS.clear()
    started = runner.Runner(startup_delay=False)
    thread = threading.Thread(target=started.run, daemon=True)
    thread.start()
    yield started
    started.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_runner_runs_a_due_job_and_leaves_no_beat_when_stopped(
    running_runner: runner.Runner,
) -> None:
    job = job_record.enqueue("now")
    wait_for(lambda: status(job.id) == TaskResultStatus.SUCCESSFUL, "the job ran")
    assert RUNS == ["now"]
    done = DBTaskResult.objects.get(pk=job.id)
    assert done.worker_ids == [running_runner.worker_id]
    assert WorkerBeat.objects.filter(worker_id=running_runner.worker_id).exists()
    running_runner.stop()
    wait_for(
        lambda: not WorkerBeat.objects.filter(worker_id=running_runner.worker_id).exists(),
        "a clean stop removes the beat",
    )


def test_a_job_due_later_waits_for_its_time(running_runner: runner.Runner) -> None:
    later = job_record.using(run_after=timezone.now() + timedelta(seconds=0.6)).enqueue("later")
    time.sleep(0.3)  # well before run_after: the runner polls every 0.05 s
    assert status(later.id) == TaskResultStatus.READY
    wait_for(lambda: status(later.id) == TaskResultStatus.SUCCESSFUL, "ran once due")
    assert RUNS == ["later"]


def claimed_by(worker_id: str, *, claimed_ago: float, beat_ago: float | None) -> str:
    """A job as a runner leaves it when it claimed it and (maybe) died: RUNNING."""
    now = timezone.now()
    with transaction.atomic():  # a running runner must not see it READY first
        job = job_record.enqueue("claimed")
        DBTaskResult.objects.filter(pk=job.id).update(
            status=TaskResultStatus.RUNNING,
            started_at=now - timedelta(seconds=claimed_ago),
            worker_ids=[worker_id],
        )
    if beat_ago is not None:
        WorkerBeat.objects.create(worker_id=worker_id, beat_at=now - timedelta(seconds=beat_ago))
    return str(job.id)


@pytest.mark.django_db
def test_reaper_hands_back_only_jobs_of_runners_that_stopped_beating() -> None:
    dead = claimed_by("host-1-dead", claimed_ago=60, beat_ago=45)
    never_beat = claimed_by("db_worker-no-beats", claimed_ago=60, beat_ago=None)
    alive = claimed_by("host-2-alive", claimed_ago=60, beat_ago=1)
    just_claimed = claimed_by("host-3-new", claimed_ago=1, beat_ago=None)

    assert runner.jobs_reap(lease_seconds=30) == 2
    assert status(dead) == status(never_beat) == TaskResultStatus.READY
    assert status(alive) == status(just_claimed) == TaskResultStatus.RUNNING
    # A second reaper (another process, a moment later) finds nothing left to hand back.
    assert runner.jobs_reap(lease_seconds=30) == 0


@pytest.mark.django_db
def test_a_job_claimed_again_meanwhile_is_not_handed_back_by_a_late_reaper() -> None:
    job = claimed_by("host-1-dead", claimed_ago=60, beat_ago=45)
    late = timezone.now()
    # Another reaper handed it back and a live runner claimed it again (new started_at).
    DBTaskResult.objects.filter(pk=job).update(started_at=late - timedelta(seconds=40))
    WorkerBeat.objects.create(worker_id="host-4", beat_at=late)
    DBTaskResult.objects.filter(pk=job).update(worker_ids=["host-1-dead", "host-4"])
    assert runner.jobs_reap(lease_seconds=30, now=late) == 0
    assert status(job) == TaskResultStatus.RUNNING


def test_a_killed_runners_job_is_handed_back_and_runs_once(
    running_runner: runner.Runner,
) -> None:
    job = claimed_by("host-9-killed", claimed_ago=3, beat_ago=3)
    # The live runner's keeper reaps within a third of its lease, then its worker runs it.
    wait_for(lambda: status(job) == TaskResultStatus.SUCCESSFUL, "handed back and run")
    assert RUNS == ["claimed"]
    done = DBTaskResult.objects.get(pk=job)
    assert done.worker_ids == ["host-9-killed", running_runner.worker_id]


def test_prune_deletes_old_finished_jobs_and_beats_only(transactional_db: None) -> None:
    old = timezone.now() - timedelta(seconds=runner.KEEP_FINISHED_SECONDS + 60)
    finished = job_record.enqueue("old")
    waiting = job_record.enqueue("waiting")
    DBTaskResult.objects.filter(pk=finished.id).update(
        status=TaskResultStatus.SUCCESSFUL, finished_at=old
    )
    WorkerBeat.objects.create(worker_id="gone", beat_at=old)
    WorkerBeat.objects.create(worker_id="here", beat_at=timezone.now())
    assert runner.jobs_prune() == 1
    assert list(DBTaskResult.objects.values_list("id", flat=True)) == [
        DBTaskResult.objects.get(pk=waiting.id).pk
    ]
    assert list(WorkerBeat.objects.values_list("worker_id", flat=True)) == ["here"]


def test_importing_the_application_in_process_starts_no_runner() -> None:
    import chatsite.asgi  # noqa: F401

    assert runner._in_process is None


@pytest.mark.slow
def test_a_daphne_process_runs_jobs_in_its_own_thread(
    server_env: dict[str, str], log_dir: Path
) -> None:
    env = {**server_env, "CHAT_JOB_WORKER": "inprocess", "CHAT_JOB_POLL_SECONDS": "0.1"}
    server = start_daphne(env, log_dir, "jobs")
    try:
        job = job_record.enqueue("daphne")
        wait_for(lambda: status(job.id) == TaskResultStatus.SUCCESSFUL, "daphne ran the job")
        assert DBTaskResult.objects.get(pk=job.id).return_value == server.proc.pid
        (worker_id,) = DBTaskResult.objects.get(pk=job.id).worker_ids
        assert f"-{server.proc.pid}-" in worker_id
        assert WorkerBeat.objects.filter(worker_id=worker_id).exists()
    finally:
        assert server.stop() == 0
    # A graceful stop ends the runner between jobs: its beat goes with it.
    assert not WorkerBeat.objects.filter(worker_id=worker_id).exists(), server.log()
    assert "Traceback" not in server.log(), server.log()
