"""Missed-messages email (placeholder: the email helper replaces this module)."""


def missed_schedule(user_ids: list[int]) -> None:
    raise NotImplementedError
