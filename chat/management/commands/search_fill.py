"""Fill a database for the search bench (bench/search.py): N messages spread over R public
rooms by U users, bodies of 6-16 words from a fixed vocabulary (common words match
many messages), and a set of planted words each in exactly --matching messages (what a
"search that matches ~100" looks for). Rows go in with COPY (PostgreSQL) or executemany
in batches (SQLite); the search index is dropped first and built once at the end with
the migration's own code (its build time is reported). Deterministic (--seed).

    manage.py search_fill --messages 1000000 --rooms 500 [--users 200] [--matching 100]

Adds rooms `sb-<n>` and users `sb-user-<n>`; refuses to run twice on one database.
"""

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from chat.models import Message, Room
from chat.search import schema

PLANTED = [f"quokka{n}" for n in range(20)]  # each in exactly --matching messages
VOCABULARY_SIZE = 5_000
BATCH = 20_000
COLUMNS = (
    "room_id, seq, kind, author_id, body, mentions, group_mention, html, client_id, created_at,"
    " also_to_room"
)


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))
        for _ in range(VOCABULARY_SIZE)
    }
    return sorted(words)


class Command(BaseCommand):
    help = "Fill the database with generated messages for bench/search.py."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--rooms", type=int, default=500)
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--matching", type=int, default=100)
        parser.add_argument("--seed", type=int, default=17)

    def handle(self, *args: Any, **options: Any) -> None:
        total, room_count = options["messages"], options["rooms"]
        if not 0 < room_count <= total or total > 50_000_000:
            raise CommandError("Need 0 < rooms <= messages <= 50,000,000.")
        if Room.objects.filter(slug="sb-0").exists():
            raise CommandError("This database was filled already (room sb-0 exists).")
        rng = random.Random(options["seed"])  # noqa: S311 - repeatable data, no secret
        words = _vocabulary(rng)
        users = User.objects.bulk_create(
            [User(username=f"sb-user-{n}", password="!") for n in range(options["users"])]  # noqa: S106 - "!": unusable
        )
        rooms = Room.objects.bulk_create(
            [Room(slug=f"sb-{n}", name=f"Bench {n}") for n in range(room_count)]
        )
        # Which message numbers carry which planted word (each word `matching` times).
        matching = options["matching"]
        if len(PLANTED) * matching > total:
            raise CommandError(f"Need at least {len(PLANTED)} times --matching messages.")
        chosen = rng.sample(range(total), len(PLANTED) * matching)  # distinct: no word lost
        planted = {index: PLANTED[n // matching] for n, index in enumerate(chosen)}
        vendor = connection.vendor
        started = time.perf_counter()
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                schema.pg_drop(cursor)
        else:
            schema.sqlite_drop(connection)
        seqs = [0] * room_count
        start = datetime.now(UTC) - timedelta(days=365)
        step = timedelta(days=365) / total
        table = connection.ops.quote_name(Message._meta.db_table)
        done = 0
        while done < total:
            rows = []
            for index in range(done, min(done + BATCH, total)):
                room = rng.randrange(room_count)
                seqs[room] += 1
                body = " ".join(rng.choice(words) for _ in range(rng.randint(6, 16)))
                if index in planted:
                    body = f"{body} {planted[index]}"
                rows.append(
                    (
                        rooms[room].pk,
                        seqs[room],
                        "user",
                        users[rng.randrange(len(users))].pk,
                        body,
                        "[]",
                        "",
                        "",
                        f"sb{index}",
                        start + step * index,
                        False,
                    )
                )
            rows_insert(table, COLUMNS, rows)
            done += len(rows)
            self.stdout.write(f"\r{done:,} messages", ending="")
        self.stdout.write("")
        inserted = time.perf_counter() - started
        with transaction.atomic():
            for filled, seq in zip(rooms, seqs, strict=True):
                Room.objects.filter(pk=filled.pk).update(last_seq=seq)
        started = time.perf_counter()
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                schema.pg_create(cursor, settings.CHAT_SEARCH_CONFIG)
                cursor.execute(f"ANALYZE {table}")
        else:
            schema.sqlite_create(connection, schema.sqlite_tokenizer(settings.CHAT_SEARCH_CONFIG))
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        indexed = time.perf_counter() - started
        self.stdout.write(
            f"{vendor}: {total:,} messages in {room_count} rooms inserted in {inserted:.1f} s;"
            f" search index built in {indexed:.1f} s"
        )


def rows_insert(table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert the rows in one transaction: COPY on PostgreSQL (one round trip per batch,
    psycopg 3's copy protocol), executemany elsewhere."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns.split(",")))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608
