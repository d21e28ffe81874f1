"""Web Push (placeholder: the push helper replaces this module)."""

from notify.selectors import MessageBrief, Recipient


def push_message(brief: MessageBrief, recipients: list[Recipient]) -> None:
    raise NotImplementedError
