"""Background jobs (django-tasks, database backend). Each job is safe to run twice: a
runner killed mid-job has its job handed to another (notify/runner.py)."""

from typing import Any

from django_tasks import task

from notify import missed, push, selectors


@task()
def message_notify(items: list[dict[str, Any]]) -> None:
    """Tell the recipients of each saved message: Web Push now, email later if unread."""
    for item in items:
        found = selectors.notify_targets(item["message_id"], item.get("users"))
        if found is None:
            continue
        brief, recipients = found
        if not recipients:
            continue
        push.push_message(brief, [r for r in recipients if not r.paused])
        missed.missed_schedule(
            [
                r.user_id
                for r in recipients
                if r.email_missed and r.email and (r.mentioned or brief.is_direct)
            ]
        )


@task()
def missed_emails(user_ids: list[int]) -> None:
    """Queued by missed.missed_schedule to run when the users' emails are due."""
    missed.missed_send_due(user_ids)
