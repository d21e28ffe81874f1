"""Search cost (#17) on a database filled by `manage.py search_fill`: the latency of
searches that match ~100 messages (p50/p95 of the selector the API calls: the full-text
query, the messages read, the highlights), and the write path's cost per message with
the search index and without it, side by side in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME DJANGO_SECRET_KEY=x \\
        DJANGO_ALLOWED_HOSTS=127.0.0.1 python -m bench.search [--searches 300 --writes 1000]
    DATABASE_URL=sqlite:////path/to/filled.sqlite3 ... python -m bench.search

Writes: `message_post` one message per transaction (the API's and a quiet room's path),
and `message_post_many` 50 per transaction (the group commit under load). Order: with
the index, without it (dropped), with it again (rebuilt: the build time is reported), so
drift shows. The bench's messages go to a room of its own (`sb-bench-<n>`) and stay.
"""

import argparse
import json
import os
import statistics
import time
import uuid
from typing import Any

import django


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def searches(count: int) -> dict[str, Any]:
    from django.contrib.auth.models import User

    from chat import selectors
    from chat.management.commands.search_fill import PLANTED
    from chat.search.query import search_parse
    from chat.selectors.search import Sort

    user = User.objects.get(username="sb-user-0")
    kinds: dict[str, tuple[str, Sort]] = {
        "word, newest": ("{}", "newest"),
        "word, relevance": ("{}", "relevance"),
        "word + in: (no match there)": ("{} in:sb-7", "newest"),
    }
    out: dict[str, Any] = {}
    for label, (form, sort) in kinds.items():
        times: list[float] = []
        found: list[int] = []
        for n in range(count):
            text = form.format(PLANTED[n % len(PLANTED)])
            started = time.perf_counter()
            page = selectors.message_search(
                user_id=user.pk, query=search_parse(text), sort=sort, limit=20
            )
            times.append((time.perf_counter() - started) * 1000)
            found.append(len(page["results"]))
        out[label] = {
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(percentile(times, 0.95), 2),
            "max_ms": round(max(times), 2),
            "results_per_page": round(statistics.mean(found), 1),
        }
    # What one planted word matches in all (the whole result set, paged through).
    word = PLANTED[0]
    total, cursor = 0, None
    while True:
        page = selectors.message_search(
            user_id=user.pk, query=search_parse(word), cursor=cursor, limit=50
        )
        total += len(page["results"])
        cursor = page["next"]
        if cursor is None:
            break
    out["matches_per_word"] = total
    return out


def writes(count: int, label: str) -> dict[str, float]:
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.utils import timezone

    from chat import services
    from chat.models import Message, Room
    from chat.services.posting import SendRequest, message_post_many

    author = User.objects.get(username="sb-user-1")
    room = Room.objects.create(slug=f"sb-bench-{uuid.uuid4().hex[:8]}", name="Bench writes")
    body = "deploy the release candidate to staging quokka and check the dashboards"
    for n in range(20):  # warm up: caches, prepared plans
        services.message_post(room_id=room.pk, author=author, body=body, client_id=f"w{n}")
    alone: list[float] = []
    for n in range(count):
        started = time.perf_counter()
        services.message_post(room_id=room.pk, author=author, body=body, client_id=f"s{n}")
        alone.append((time.perf_counter() - started) * 1e6)
    batched: list[float] = []
    for b in range(max(1, count // 50)):
        requests = [
            SendRequest(room_id=room.pk, author=author, body=body, client_id=f"b{b}-{n}")
            for n in range(50)
        ]
        started = time.perf_counter()
        message_post_many(requests)
        batched.append((time.perf_counter() - started) * 1e6 / 50)
    # The bare INSERT (multi-row, 50 per transaction) without the service's work around
    # it: the index's share of the statement itself, an upper bound of its share.
    from chat.management.commands.search_fill import COLUMNS

    table = connection.ops.quote_name(Message._meta.db_table)
    marks = "(" + ", ".join(["%s"] * len(COLUMNS.split(","))) + ")"
    seq = Room.objects.get(pk=room.pk).last_seq + 10_000 * (1 + int(time.time()) % 1000)
    raw: list[float] = []
    now = timezone.now()
    for _ in range(max(1, count // 50)):
        rows: list[Any] = []
        for _n in range(50):
            seq += 1
            rows += [room.pk, seq, "user", author.pk, body, "[]", "", "", f"r{seq}", now, False]
        sql = f"INSERT INTO {table} ({COLUMNS}) VALUES {', '.join([marks] * 50)}"  # noqa: S608
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, rows)
        raw.append((time.perf_counter() - started) * 1e6 / 50)
    # Medians: a checkpoint or another process's burst lands on a few writes, not all.
    single, many = statistics.median(alone), statistics.median(batched)
    bare = statistics.median(raw)
    connection.close()
    print(
        f"  writes {label}: {single:.0f} µs/message alone, {many:.0f} µs in batches of 50,"
        f" bare INSERT {bare:.0f} µs"
    )
    return {
        "one_per_transaction_us": round(single, 1),
        "batch_of_50_us": round(many, 1),
        "bare_insert_of_50_us": round(bare, 1),
    }


def index_drop() -> None:
    from django.db import connection

    from chat.search import schema

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            schema.pg_drop(cursor)
    else:
        schema.sqlite_drop(connection)


def index_create() -> float:
    from django.conf import settings
    from django.db import connection

    from chat.search import schema

    started = time.perf_counter()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            schema.pg_create(cursor, settings.CHAT_SEARCH_CONFIG)
    else:
        schema.sqlite_create(connection, schema.sqlite_tokenizer(settings.CHAT_SEARCH_CONFIG))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--skip-writes", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.db import connection

    from chat.models import Message

    report: dict[str, Any] = {
        "engine": connection.vendor,
        "messages": Message.objects.count(),
        "rooms": Message.objects.values("room").distinct().count(),
    }
    print(f"{report['engine']}: {report['messages']:,} messages in {report['rooms']} rooms")
    searches(20)  # warm up
    report["search"] = searches(args.searches)
    for label, row in report["search"].items():
        print(f"  {label}: {row}")
    if not args.skip_writes:
        report["writes_with_index"] = writes(args.writes, "with index")
        index_drop()
        report["writes_without_index"] = writes(args.writes, "without index")
        report["index_build_seconds"] = round(index_create(), 1)
        print(f"  index rebuilt in {report['index_build_seconds']} s")
        report["writes_with_index_again"] = writes(args.writes, "with index again")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
