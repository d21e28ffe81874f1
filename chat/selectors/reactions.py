"""Reactions read for messages: counts per emoji and whether the reader is among them.
One query for a whole page of messages, never one per message."""

from typing import TypedDict

from django.db import connection

from chat.models import Reaction


class ReactionOut(TypedDict):
    emoji: str
    count: int
    me: bool  # the reader reacted so; always False where no one reader is known


def reactions_for(
    message_ids: list[int], *, reader_id: int | None = None
) -> dict[int, list[ReactionOut]]:
    """message id -> its reactions (emoji in the order they were first used). Messages
    with none are left out. `reader_id` None: every `me` is False (a frame many read)."""
    if not message_ids:
        return {}
    table = connection.ops.quote_name(Reaction._meta.db_table)
    marks = ", ".join(["%s"] * len(message_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT message_id, emoji, COUNT(*),"  # noqa: S608 - table name from the model
            " MAX(CASE WHEN user_id = %s THEN 1 ELSE 0 END), MIN(id)"
            f" FROM {table} WHERE message_id IN ({marks})"
            " GROUP BY message_id, emoji ORDER BY message_id, MIN(id)",
            [reader_id if reader_id is not None else 0, *message_ids],
        )
        rows = cursor.fetchall()
    out: dict[int, list[ReactionOut]] = {}
    for message_id, emoji, count, me, _first in rows:
        out.setdefault(int(message_id), []).append(
            {"emoji": str(emoji), "count": int(count), "me": bool(me)}
        )
    return out


def reaction_count(*, message_id: int, emoji: str) -> int:
    return Reaction.objects.filter(message_id=message_id, emoji=emoji).count()
