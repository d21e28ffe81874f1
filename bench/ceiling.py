"""The database's own ceiling for saving chat messages, on the project's tables: how many
messages/s the database takes when nothing but the save runs, so the bench can give the
project's saved-messages/s as a fraction of it.

    DATABASE_URL=... DJANGO_SECRET_KEY=x python -m bench.ceiling [--seconds 3] [--json]

Three shapes, each what a save is in the project (the room row's seq bumped with
`UPDATE … RETURNING` under its lock, then the message row inserted, then a commit):

- `single_1`: one message per transaction, one connection;
- `single_4`: the same on four connections at once (threads), each in its own room;
- `batched_50`: 50 messages per transaction, one connection: one `UPDATE … SET last_seq
  = last_seq + 50 RETURNING` and one 50-row INSERT (what chat/services/posting.py does).

Run by bench/run.py in the snapshot, on the run's migrated database, in scratch rooms
(`ceiling-…`) deleted afterwards. The rows are built from the Message model's fields
(their defaults and database preparation), so the INSERT matches the project's schema
without the ORM's per-object cost. Each shape is bounded by time and by count.
"""

import argparse
import json
import secrets
import sys
import threading
import time
from typing import Any

import django

MAX_MESSAGES = 200_000  # per shape and connection, whatever the time
BATCH = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0, help="per shape (%(default)s)")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    args = parser.parse_args(argv)
    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection, connections, transaction

    from chat.models import Message, Room

    tag = secrets.token_hex(3)
    author = User.objects.order_by("pk").first() or User.objects.create(username=f"ceil{tag}")
    vendor = connection.vendor
    room_table = connection.ops.quote_name(Room._meta.db_table)
    fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    insert_head = (
        f"INSERT INTO {connection.ops.quote_name(Message._meta.db_table)} ({columns}) VALUES "  # noqa: S608 - names from the model
    )
    row_marks = "(" + ", ".join(["%s"] * len(fields)) + ")"
    rooms: list[int] = []

    def scratch_room() -> int:
        room = Room.objects.create(slug=f"ceiling-{tag}-{len(rooms)}", name="ceiling")
        rooms.append(room.pk)
        return int(room.pk)

    # One row prepared the model's way; each save varies only room, seq, body, client_id
    # (the database's cost is measured, not Python's per-field preparation).
    template = Message(room_id=0, seq=0, author=author, body="", client_id="")
    prepared = [f.get_db_prep_save(f.pre_save(template, True), connection) for f in fields]
    at = {f.name: i for i, f in enumerate(fields)}

    def row(room_id: int, seq: int, n: int) -> list[Any]:
        values = list(prepared)
        values[at["room"]], values[at["seq"]] = room_id, seq
        values[at["body"]], values[at["client_id"]] = f"ceiling {n}", f"c{tag}{n}"
        return values

    def save(room_id: int, n: int, count: int) -> None:
        """One transaction: `count` seqs taken at once, `count` rows inserted."""
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute(
                f"UPDATE {room_table} SET last_seq = last_seq + %s WHERE id = %s "  # noqa: S608
                "RETURNING last_seq",
                [count, room_id],
            )
            last = int(cursor.fetchone()[0])
            values: list[Any] = []
            for k in range(count):
                values.extend(row(room_id, last - count + 1 + k, n + k))
            cursor.execute(insert_head + ", ".join([row_marks] * count), values)

    def loop(room_id: int, per_tx: int, stop_at: float, out: list[int]) -> None:
        n = 0
        try:
            while time.monotonic() < stop_at and n < MAX_MESSAGES:
                save(room_id, n, per_tx)
                n += per_tx
        finally:
            out.append(n)
            connections.close_all()  # this thread's connection

    def measure(connections_n: int, per_tx: int) -> dict[str, Any]:
        room_ids = [scratch_room() for _ in range(connections_n)]
        done: list[int] = []
        started = time.monotonic()
        stop_at = started + args.seconds
        threads = [
            threading.Thread(target=loop, args=(room_id, per_tx, stop_at, done))
            for room_id in room_ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.seconds + 60)
        wall = time.monotonic() - started
        saved = sum(done)
        return {
            "connections": connections_n,
            "per_transaction": per_tx,
            "messages": saved,
            "seconds": round(wall, 3),
            "messages_per_s": round(saved / wall, 1) if wall > 0 else 0.0,
        }

    result: dict[str, Any] = {"vendor": vendor}
    try:
        result["single_1"] = measure(1, 1)
        # SQLite takes one writer at a time: four connections only queue on its lock.
        if vendor != "sqlite":
            result["single_4"] = measure(4, 1)
        result["batched_50"] = measure(1, BATCH)
    finally:
        Message.objects.filter(room_id__in=rooms).delete()
        Room.objects.filter(pk__in=rooms).delete()
    if args.json:
        print(json.dumps(result))
    else:
        for name, figures in result.items():
            print(name, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
