"""Outgoing webhooks' background jobs (django-tasks, database backend; run by
notify/runner.py in daphne or `manage.py chat_worker`). Each is safe to run twice: a
runner killed mid-job has its job handed to another (integrations/deliveries.py)."""

from django_tasks import task

from integrations import deliveries


@task()
def deliveries_plan(message_ids: list[int]) -> int:
    """Queued by the write path's transaction (receivers.py) for messages saved in rooms
    that outgoing webhooks watch."""
    return deliveries.deliveries_plan(message_ids)


@task()
def delivery_attempt(delivery_pk: int) -> None:
    """One try of one delivery; a retry is this job again, due later."""
    deliveries.delivery_attempt(delivery_pk)
