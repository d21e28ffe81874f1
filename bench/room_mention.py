"""What @room and @here cost in a big room (#15): a message's save (the path to its
broadcast) with no mention, one @name, @here and @room in a room of N members, and the
notification job that follows off that path. Medians of alternated runs, with the
statements each sends. Not a load test: one message at a time, in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME [REDIS_URL=redis://127.0.0.1:6379/0] \\
        DJANGO_SECRET_KEY=x DJANGO_ALLOWED_HOSTS=127.0.0.1 python -m bench.room_mention \\
        [--members 2000 --online 500 --runs 15]

Run on a migrated database; it adds its own users and room (`rm-…`) and deletes
nothing. With REDIS_URL the @here members come from Redis presence as in production
(the hash this process's presence writes); without, from this process's own store.
"""

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from typing import Any

import django


class Queries:
    """Counts the statements Django's cursors execute in this thread while recording."""

    def __init__(self) -> None:
        self.count = 0
        self.local = threading.local()

    def install(self) -> None:
        from django.db.backends import utils

        log = self
        for name in ("execute", "executemany"):
            original = getattr(utils.CursorWrapper, name)

            def wrapped(self: Any, sql: Any, *args: Any, _original: Any = original) -> Any:
                if getattr(log.local, "on", False):
                    log.count += 1
                return _original(self, sql, *args)

            setattr(utils.CursorWrapper, name, wrapped)

    def measure(self, work: Any) -> tuple[float, int, Any]:
        self.count = 0
        self.local.on = True
        started = time.perf_counter()
        try:
            result = work()
        finally:
            elapsed = time.perf_counter() - started
            self.local.on = False
        return elapsed, self.count, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--online", type=int, default=500, help="members online for @here")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    queries = Queries()
    queries.install()

    from django.conf import settings
    from django.contrib.auth.models import User

    from chat import services
    from chat.models import Membership, Room
    from chat.ops.redis_client import redis_client_sync
    from chat.presence import keys
    from chat.presence.stores import MemoryStore
    from notify import tasks

    tag = uuid.uuid4().hex[:6]
    owner = User.objects.create(username=f"rm-{tag}-owner", email="o@example.com")
    room = Room.objects.create(slug=f"rm-{tag}", name="Big room", created_by=owner)
    users = User.objects.bulk_create(
        [
            User(username=f"rm-{tag}-{n}", email=f"u{n}@example.com", password="!")  # noqa: S106 - unusable
            for n in range(args.members - 1)
        ]
    )
    Membership.objects.bulk_create(
        [Membership(room=room, user=user) for user in [owner, *users]], batch_size=1000
    )
    online = [user.username for user in users[: args.online]]
    if settings.REDIS_URL:
        key = keys.room_users_key(settings.CHAT_LAYER_PREFIX, room.pk)
        client = redis_client_sync(settings.REDIS_URL)
        client.hset(key, mapping=dict.fromkeys(online, 1))
    else:
        store = MemoryStore()
        store.users[room.pk].update(online)
    # The job is what a runner would do after commit; here it is run inline, measured apart.
    from chat import events

    events.notify_requested.disconnect(dispatch_uid="notify.enqueue")

    shapes = {
        "plain": "the build is green",
        "@name": f"@{users[0].username} the build is green",
        "@here": "@here the build is green",
        "@room": "@room the build is green",
    }
    save: dict[str, list[float]] = {name: [] for name in shapes}
    save_queries: dict[str, int] = {}
    job: dict[str, list[float]] = {name: [] for name in shapes}
    job_queries: dict[str, int] = {}
    recipients: dict[str, int] = {}
    for run in range(args.runs):
        for name, body in shapes.items():  # alternated: every shape sees the same drift
            elapsed, count, message = queries.measure(
                lambda body=body, run=run: services.message_post(
                    room_id=room.pk, author=owner, body=body, client_id=f"{run}-{body[:20]}"
                )
            )
            save[name].append(elapsed * 1000)
            save_queries[name] = count
            from notify.selectors import notify_targets

            found = notify_targets(message["id"])
            recipients[name] = len(found[1]) if found else 0
            item = {"message_id": message["id"], "users": None}
            elapsed, count, _ = queries.measure(lambda item=item: tasks.message_notify.call([item]))
            job[name].append(elapsed * 1000)
            job_queries[name] = count
            # Everyone reads it, so the next run's email scheduling starts from the same state.
            Membership.objects.filter(room=room).update(last_read_seq=message["seq"])
            from notify.models import MissedEmailState

            MissedEmailState.objects.filter(user__in=[owner, *users]).update(email_due_at=None)

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        }

    result = {
        "members": args.members,
        "online": args.online,
        "runs": args.runs,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "presence": "redis" if settings.REDIS_URL else "memory",
        "save": {name: {**summary(save[name]), "queries": save_queries[name]} for name in shapes},
        "notify_job": {
            name: {
                **summary(job[name]),
                "queries": job_queries[name],
                "recipients": recipients[name],
            }
            for name in shapes
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
