"""Background jobs (django-tasks, database backend). Each job is safe to run twice: a
runner killed mid-job has its job handed to another (notify/runner.py)."""

from typing import Any

from django_tasks import task

from notify import missed, push, selectors


@task()
def message_notify(items: list[dict[str, Any]]) -> None:
    """Tell the recipients of each saved message: Web Push now, email later if unread.
    A message asked for twice (a reply in a thread is asked for by the thread and by its
    room's levels) is told once: its recipients are one list, one person once."""
    seen: set[tuple[int, tuple[int, ...] | None]] = set()
    for item in items:
        users = item.get("users")
        key = (item["message_id"], tuple(sorted(users)) if users is not None else None)
        if key in seen:
            continue
        seen.add(key)
        found = selectors.notify_targets(item["message_id"], users)
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
                if r.email_missed and r.email and (r.mentioned or brief.is_direct or r.follower)
            ]
        )


@task()
def missed_emails(user_ids: list[int]) -> None:
    """Queued by missed.missed_schedule to run when the users' emails are due."""
    missed.missed_send_due(user_ids)
