"""The daily retention run as a background job, kept queued like the LDAP sync
(accounts/identity/ldap_jobs.py): every job runner's keeper calls retention_ensure()
as it beats (registered in dataport/apps.py, since notify may not import dataport);
when no retention job is waiting or running, it queues one at the next midnight UTC.
While retention is off (no site span, no room span) a beat costs one small query."""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from chat.models import AuditLog, Room
from dataport import retention

logger = logging.getLogger(__name__)

DAY_SECONDS = 24 * 3600
# A second job queued by a runner racing this one finds the first's audit entry and
# does nothing: one run a day, whichever runner queued it.
RAN_RECENTLY = timedelta(hours=12)


@task()
def retention_job() -> None:
    """One daily run: every room past its span loses its older messages."""
    since = timezone.now() - RAN_RECENTLY
    if AuditLog.objects.filter(
        action=retention.AUDIT_ACTION, reason__startswith="daily job", created_at__gte=since
    ).exists():
        return
    retention.retention_run(actor_note="daily job")


TASK_PATH = retention_job.module_path


def next_midnight(now: datetime) -> datetime:
    """The next midnight UTC: every runner picks the same time."""
    seconds = int(now.timestamp()) // DAY_SECONDS * DAY_SECONDS + DAY_SECONDS
    return datetime.fromtimestamp(seconds, tz=UTC)


def retention_on() -> bool:
    """Some messages have a span: the site's setting, or a room's own."""
    if settings.CHAT_RETENTION_DAYS is not None:
        return True
    return Room.objects.filter(retention_days__isnull=False).exists()


def retention_ensure(now: datetime | None = None) -> bool:
    """Queue the next run unless one is waiting or running; True when it queued one."""
    pending = DBTaskResult.objects.filter(
        task_path=TASK_PATH, status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
    )
    if not retention_on() or pending.exists():
        return False
    retention_job.using(run_after=next_midnight(now or timezone.now())).enqueue()
    return True
