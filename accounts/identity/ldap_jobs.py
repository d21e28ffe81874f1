"""The periodic ldap_sync (CHAT_LDAP_SYNC_MINUTES) as a background job, run where jobs
run (notify/runner.py: each daphne process, or `manage.py chat_worker`). Every runner's
keeper calls ldap_sync_ensure() as it beats: when no sync job is waiting or running, it
queues one at the next multiple of the interval, so there is one chain for the whole
site, mended within a beat if a job failed. Imports python-ldap only when a job runs."""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.identity.ldap_config import DIRECTORY_GROUP

logger = logging.getLogger(__name__)


@task()
def ldap_sync_job() -> None:
    """One periodic ldap_sync. A directory that cannot be read changes nothing; the next
    run tries again."""
    if settings.CHAT_LDAP is None:
        return
    import ldap

    from accounts.identity import ldap_sync

    try:
        report = ldap_sync.ldap_sync()
    except (ldap.LDAPError, ldap_sync.SyncRefused) as error:
        logger.error("ldap_sync (periodic): nothing changed: %s", error)
        return
    logger.info(
        "ldap_sync (periodic): %d checked, %d deactivated", report.checked, len(report.deactivated)
    )


TASK_PATH = ldap_sync_job.module_path


def next_run(now: datetime, minutes: int) -> datetime:
    """The next multiple of `minutes` since the epoch: every runner picks the same time."""
    every = minutes * 60
    seconds = int(now.timestamp()) // every * every + every
    return datetime.fromtimestamp(seconds, tz=UTC)


def ldap_sync_ensure(now: datetime | None = None) -> bool:
    """Queue the next sync unless one is waiting or running; True when it queued one.
    No query when the periodic sync is off."""
    config = settings.CHAT_LDAP
    if config is None or config.sync_minutes <= 0:
        return False
    pending = DBTaskResult.objects.filter(
        task_path=TASK_PATH, status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
    )
    if pending.exists():  # the common case, every beat: one query
        return False
    with transaction.atomic():
        # The directory group's row is the lock: two runners checking at once queue one
        # job (SQLite serializes the transactions anyway: IMMEDIATE).
        Group.objects.get_or_create(name=DIRECTORY_GROUP)
        Group.objects.select_for_update().filter(name=DIRECTORY_GROUP).first()
        if pending.exists():
            return False
        when = next_run(now or timezone.now(), config.sync_minutes)
        ldap_sync_job.using(run_after=when).enqueue()
    return True
