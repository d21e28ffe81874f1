"""Threads' read cost (#24) on a database filled by `manage.py threads_fill`: the Threads
list (`selectors.threads_page`, what threads.fetch and GET /api/threads/ call), opening
the thread of 1,000 replies (`services.thread_history` newest 50 plus the user's
`selectors.thread_states`, what the panel reads), the totals hello adds
(`selectors.thread_totals`), each timed in-process (server time: the queries and the
rows turned into message objects, plus the JSON of the answer); then the write path's
cost per message, top-level against replies (`message_post_many`, batches of 50).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME DJANGO_SECRET_KEY=x \\
        DJANGO_ALLOWED_HOSTS=127.0.0.1 python -m bench.threads [--repeat 200] [--explain]

The user is `tf-user-0` (the filler's follower). With --explain, EXPLAIN ANALYZE of the
slowest statement of each read is printed. The write bench's messages go to a room of
its own (`tf-bench-<n>`) and stay.
"""

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import django

PAGE = 20
LATER_PAGE = 5  # "a later page": the 5th (four cursors followed)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(label: str, repeat: int, call: Callable[[], Any]) -> dict[str, Any]:
    """Median and p95 of `repeat` calls (after 10 warm-up calls), in ms."""
    for _ in range(10):
        call()
    times: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    row = {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 0.95), 2),
        "max_ms": round(max(times), 2),
    }
    print(f"  {label}: {row}", flush=True)
    return row


def explain(call: Callable[[], Any]) -> None:
    """EXPLAIN ANALYZE of the slowest statement the call sends."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {slowest['sql']}")
        print("\n".join(f"    {row[0]}" for row in cursor.fetchall()))


def reads(repeat: int, show_plans: bool) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db.models import Max

    from chat import selectors, services
    from chat.models import Thread, ThreadFollow

    user = User.objects.get(username="tf-user-0")
    follows = ThreadFollow.objects.filter(user=user, following=True).count()
    big = Thread.objects.filter(replies=Thread.objects.aggregate(m=Max("replies"))["m"]).first()
    assert big is not None  # noqa: S101 - a filled database
    out: dict[str, Any] = {"follows": follows, "big_thread_replies": big.replies}
    totals = selectors.thread_totals(user_ids=[user.pk])[user.pk]
    out["totals"] = totals
    print(f"  tf-user-0 follows {follows} threads: {totals}; big thread {big.replies} replies")
    calls: dict[str, Callable[[], Any]] = {}
    for unread in (False, True):
        cursor = None
        for _ in range(LATER_PAGE - 1):
            cursor = selectors.threads_page(
                user_id=user.pk, unread=unread, before=cursor, limit=PAGE
            )["next"]
        name = "unread" if unread else "all"

        def first(unread: bool = unread) -> str:
            page = selectors.threads_page(user_id=user.pk, unread=unread, before=None, limit=PAGE)
            return json.dumps(page)

        def later(unread: bool = unread, cursor: str | None = cursor) -> str:
            page = selectors.threads_page(user_id=user.pk, unread=unread, before=cursor, limit=PAGE)
            return json.dumps(page)

        calls[f"threads_page {name}, first page"] = first
        calls[f"threads_page {name}, page {LATER_PAGE}"] = later

    def thread_open() -> str:
        root, replies = services.thread_history(
            room_id=big.room_id, root_id=big.root_id, user=user, before=None, limit=50
        )
        states = selectors.thread_states(root_ids=[big.root_id], user_ids=[user.pk])
        return json.dumps({"root": root, "messages": replies, "state": list(states.values())})

    calls["open the big thread: thread_history newest 50 + thread_states"] = thread_open
    calls["  of which thread_history"] = lambda: services.thread_history(
        room_id=big.room_id, root_id=big.root_id, user=user, before=None, limit=50
    )
    calls["  of which thread_states"] = lambda: selectors.thread_states(
        root_ids=[big.root_id], user_ids=[user.pk]
    )
    # Every history read shares the message SELECT that threads extended (the summary).
    calls["a room's newest 50 (message_list, the room of the big thread)"] = lambda: (
        selectors.message_list(room_id=big.room_id, before=None, limit=50)
    )
    calls[f"thread_totals ({follows} follows)"] = lambda: selectors.thread_totals(
        user_ids=[user.pk]
    )
    for label, call in calls.items():
        out[label.strip()] = timed(label, repeat, call)
        if show_plans:
            explain(call)
    return out


def writes(batches: int, kinds: tuple[str, ...]) -> dict[str, float]:
    """µs per message of message_post_many, batches of 50 top-level messages against 50
    replies (to 5 roots, as busy threads get them), alternated batch by batch in one
    room: wall time, and this process's CPU time (what a server process spends; the
    database's own CPU is not in it). Medians."""
    from django.contrib.auth.models import User

    from chat import services
    from chat.models import Room
    from chat.services.posting import SendRequest, message_post_many

    authors = list(User.objects.filter(username__in=["tf-user-1", "tf-user-2", "tf-user-3"]))
    room = Room.objects.create(slug=f"tf-bench-{uuid.uuid4().hex[:8]}", name="Bench writes")
    body = "deploy the release candidate to staging and check the dashboards"
    roots = [
        services.message_post(room_id=room.pk, author=authors[0], body=body, client_id=f"r{n}")[
            "id"
        ]
        for n in range(5)
    ]
    wall: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    for b in range(batches + 2):  # the first 2 of each: warm-up
        for kind in kinds:
            requests = [
                SendRequest(
                    room_id=room.pk,
                    author=authors[n % len(authors)],
                    body=body,
                    client_id=f"{kind}{b}-{n}",
                    # Only replies name a thread: a tree from before threads has no field.
                    **_thread_of(kind, roots[n % len(roots)]),
                )
                for n in range(50)
            ]
            started, started_cpu = time.perf_counter(), time.process_time()
            message_post_many(requests)
            if b >= 2:
                wall[kind].append((time.perf_counter() - started) * 1e6 / 50)
                cpu[kind].append((time.process_time() - started_cpu) * 1e6 / 50)
    out: dict[str, float] = {}
    for kind in kinds:
        out[f"{kind}_us"] = round(statistics.median(wall[kind]), 1)
        out[f"{kind}_cpu_us"] = round(statistics.median(cpu[kind]), 1)
    print(f"  message_post_many, batches of 50 (median of {batches}): {out}", flush=True)
    return out


def _thread_of(kind: str, root: int) -> dict[str, Any]:
    return {"thread": root} if kind == "reply" else {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--batches", type=int, default=40, help="write batches of each kind")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument(
        "--writes-only",
        action="store_true",
        help="only the write bench, top-level messages only (works on a tree before threads)",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.db import connection

    import chat

    report: dict[str, Any] = {
        "engine": connection.vendor,
        "code": os.path.dirname(os.path.dirname(chat.__file__)),  # which tree's chat/
        "load_average": os.getloadavg(),
    }
    if args.writes_only:
        report["writes"] = writes(args.batches, ("top-level",))
        print(json.dumps(report, indent=1, default=str))
        return
    from chat.models import Message, Thread

    report["messages"] = Message.objects.count()
    report["replies"] = Message.objects.filter(thread__isnull=False).count()
    report["threads"] = Thread.objects.count()
    print(
        f"{report['engine']}: {report['messages']:,} messages, {report['replies']:,} replies"
        f" in {report['threads']:,} threads; load {report['load_average']}"
    )
    report["reads"] = reads(args.repeat, args.explain)
    if not args.skip_writes:
        report["writes"] = writes(args.batches, ("top-level", "reply"))
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
