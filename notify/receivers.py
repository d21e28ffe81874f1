"""Connects the notify app to chat's after-commit signal: one job per group of saved
messages, so the sender's transaction never waits for notification work."""

import logging
from typing import Any

from chat.events import NotifyItem, notify_requested

logger = logging.getLogger(__name__)


def _enqueue(sender: object, *, items: list[NotifyItem], **kwargs: Any) -> None:
    from notify.tasks import message_notify  # the task module imports the job runner

    try:
        message_notify.enqueue(items=[dict(item) for item in items])
    except Exception:
        # robust: the messages are saved and delivered; only their notifications are lost
        logger.exception("could not queue notifications for %d message(s)", len(items))


notify_requested.connect(_enqueue, dispatch_uid="notify.enqueue")
