"""CPU per saved message of the one write path (`message_post_many`), without sockets:
what a server process's database thread spends on a group commit's batch, in the
write-heavy shape (each batch spread over many rooms and senders), on one tree's code.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME DJANGO_SECRET_KEY=x \\
        PYTHONPATH=<tree> python -m bench.write_cost [--batches 60] [--size 50]

It creates `--rooms` rooms with `--senders` members each (once per database; later
runs reuse them), then saves `--batches` batches of `--size` top-level messages, each
batch's sends spread round-robin over the rooms and their senders (the write-heavy
scenario: 100 rooms, 5 senders per room). Prints µs per message, medians over the
batches after 3 warm-up batches: this process's CPU time (what a server pays;
PostgreSQL's own CPU is not in it) and wall time, and the SQL statements per batch.
Works on any tree with chat/services/posting.py's `SendRequest`.
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid

import django

PREFIX = "wc"


def setup(rooms: int, senders: int) -> tuple[list[int], list[list[object]]]:
    from django.contrib.auth.models import User

    from chat.models import Membership, Room

    slugs = [f"{PREFIX}-room-{n}" for n in range(rooms)]
    names = [f"{PREFIX}-user-{n}" for n in range(rooms * senders)]
    Room.objects.bulk_create([Room(slug=slug, name=slug) for slug in slugs], ignore_conflicts=True)
    User.objects.bulk_create(
        [User(username=name, password="!") for name in names],  # noqa: S106 - unusable
        ignore_conflicts=True,
    )
    room_ids = dict(Room.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    Membership.objects.bulk_create(
        [
            Membership(room_id=room_ids[slugs[r]], user=users[names[r * senders + s]])
            for r in range(rooms)
            for s in range(senders)
        ],
        ignore_conflicts=True,
    )
    return [room_ids[s] for s in slugs], [
        [users[names[r * senders + s]] for s in range(senders)] for r in range(rooms)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--size", type=int, default=50, help="sends per batch")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--senders", type=int, default=5, help="senders per room")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the measured batches")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import chat
    from chat.services.posting import SendRequest, message_post_many

    room_ids, senders = setup(args.rooms, args.senders)
    run = uuid.uuid4().hex[:8]
    body = "deploy the release candidate to staging and check the dashboards"
    cpu: list[float] = []
    wall: list[float] = []
    statements = 0
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
    n = 0
    for b in range(args.batches + 4):  # the first 3: warm-up; the last: SQL counted
        requests = []
        for _ in range(args.size):
            room = n % args.rooms
            author = senders[room][(n // args.rooms) % args.senders]
            requests.append(
                SendRequest(
                    room_id=room_ids[room], author=author, body=body, client_id=f"{run}-{n}"
                )  # type: ignore[arg-type]
            )
            n += 1
        if b == args.batches + 2:  # the last one: its statements counted, not timed
            with CaptureQueriesContext(connection) as queries:
                message_post_many(requests)
            statements = len(queries.captured_queries)
            break
        if profiler is not None and b >= 3:
            profiler.enable()
        started, started_cpu = time.perf_counter(), time.process_time()
        outcomes = message_post_many(requests)
        elapsed_cpu, elapsed = time.process_time() - started_cpu, time.perf_counter() - started
        if profiler is not None and b >= 3:
            profiler.disable()
        assert all(isinstance(o, dict) for o in outcomes), outcomes  # noqa: S101
        if b >= 3:
            cpu.append(elapsed_cpu * 1e6 / args.size)
            wall.append(elapsed * 1e6 / args.size)
    if profiler is not None:
        profiler.dump_stats(args.profile)
    print(
        json.dumps(
            {
                "engine": connection.vendor,
                "code": os.path.dirname(os.path.dirname(chat.__file__)),
                "batch": args.size,
                "cpu_us_per_message": round(statistics.median(cpu), 1),
                "wall_us_per_message": round(statistics.median(wall), 1),
                "cpu_quartiles": [round(q, 1) for q in statistics.quantiles(cpu, n=4)],
                "statements_per_batch": statements,
                "load_average": os.getloadavg(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
