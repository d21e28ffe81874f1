"""Running background jobs inside a test: what a runner does, in the test's thread."""

from django_tasks_db.management.commands.db_worker import Worker


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
