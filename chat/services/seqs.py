"""Taking seqs: a room's messages are numbered by bumping `Room.last_seq` inside the
saving transaction. The row stays locked until commit, so senders on any process get
consecutive seqs and commit in seq order. One statement for every room of a batch."""

import json
from typing import NamedTuple

from django.db import connection

from chat.errors import ChatError
from chat.models import Room
from chat.protocol.codes import ErrorCode


class SeqBlock(NamedTuple):
    last: int  # the last seq of the block taken (the block is last - count + 1 … last)
    slug: str
    notify_all: bool  # a direct conversation, or a member with the level "all"
    hooks: bool = False  # an outgoing webhook watches the room (Room.outgoing_hooks)


_PAIRS_JSON = "SELECT (e->>0)::bigint, (e->>1)::bigint FROM json_array_elements(%s::json) e"


def room_seq_block(room_id: int, count: int = 1) -> SeqBlock:
    """Take the room's next `count` seqs; ChatError(ErrorCode.ROOM_NOT_FOUND) if it is gone."""
    return room_seq_blocks({room_id: count})[room_id]


def room_seq_blocks(counts: dict[int, int]) -> dict[int, SeqBlock]:
    """Take each room's next `counts[room]` seqs in one statement (a batch spread over
    many rooms took one UPDATE round trip per room: a fifth of the database thread's
    time in the write-heavy profile). ChatError(ErrorCode.ROOM_NOT_FOUND) if any room is gone."""
    table = connection.ops.quote_name(Room._meta.db_table)
    rooms = sorted(counts)
    pairs = [(room, counts[room]) for room in rooms]
    params: list[int | str]
    if connection.vendor == "postgresql":
        # One JSON parameter: the statement's text stays the same for any batch, so
        # psycopg parses it once (it re-parses any statement of more than 50 parameters
        # every time: ~10 % of a batch's CPU with three such statements).
        source, params = _PAIRS_JSON, [json.dumps(pairs)]
    else:
        source = "VALUES " + ", ".join(["(%s, %s)"] * len(rooms))
        params = [value for pair in pairs for value in pair]
    # PostgreSQL locks the rows in id order first, so two processes taking seqs in the
    # same rooms never wait on each other in a cycle (the UPDATE only re-locks rows held
    # already). SQLite has one writer at a time: nothing to order.
    locking = connection.features.has_select_for_update
    lock = (
        f", locked(room) AS (SELECT r.id FROM {table} r JOIN v ON r.id = v.room"  # noqa: S608
        " ORDER BY r.id FOR UPDATE OF r)"
        if locking
        else ""
    )
    # UPDATE … FROM … RETURNING (PostgreSQL, SQLite >= 3.35); the ORM's update() cannot.
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v(room, n) AS ({source}){lock}"  # noqa: S608 - table name from the model
            f" UPDATE {table} SET last_seq = last_seq + v.n FROM v{', locked' if locking else ''}"
            f" WHERE {table}.id = v.room{' AND locked.room = v.room' if locking else ''}"
            f" RETURNING {table}.id, last_seq, slug, is_direct, notify_all_members,"
            " outgoing_hooks",
            params,
        )
        rows = cursor.fetchall()
    blocks = {
        int(r[0]): SeqBlock(int(r[1]), str(r[2]), bool(r[3]) or int(r[4]) > 0, int(r[5]) > 0)
        for r in rows
    }
    if len(blocks) != len(rooms):
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "This room does not exist any more.")
    return blocks
