"""The jobs of the per-user export: building one (queued by a request), and the hourly
purge of expired files, kept queued by every runner's keeper (notify/runner.py calls the
`periodic` hooks it was given; dataport/apps.py registers user_exports_purge_ensure)
as accounts/identity/ldap_jobs.py does for the LDAP sync."""

from datetime import UTC, datetime

from django.utils import timezone
from django_tasks import task
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from dataport import userexport

PURGE_EVERY_SECONDS = 3600


@task()
def user_export_job(export_id: int) -> None:
    userexport.export_build(export_id)


@task()
def user_exports_purge_job() -> None:
    userexport.exports_purge()


PURGE_TASK_PATH = user_exports_purge_job.module_path


def next_purge(now: datetime) -> datetime:
    """The next full hour: every runner picks the same time."""
    seconds = int(now.timestamp()) // PURGE_EVERY_SECONDS * PURGE_EVERY_SECONDS
    return datetime.fromtimestamp(seconds + PURGE_EVERY_SECONDS, tz=UTC)


def user_exports_purge_ensure(now: datetime | None = None) -> bool:
    """Queue the next purge unless one is waiting or running; True when it queued one.
    Two runners checking at the very same moment may queue two for the same hour: the
    purge is idempotent, and the chain is one again after they ran (no lock needed)."""
    pending = DBTaskResult.objects.filter(
        task_path=PURGE_TASK_PATH, status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
    )
    if pending.exists():  # the common case, every beat: one query
        return False
    user_exports_purge_job.using(run_after=next_purge(now or timezone.now())).enqueue()
    return True
