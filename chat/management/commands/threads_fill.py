"""Fill a database for the threads bench (bench/threads.py): N messages over R public
rooms by U users, a third of them thread replies, with the Thread summaries, the
ThreadFollow rows and the Mention rows the write path (chat/services/threads.py
`replies_saved`, chat/services/mentioning.py) would have left; plus one thread of
--big-thread replies and one user (`tf-user-0`, the "follower") who follows exactly
--follows threads, part of them with unread replies and mentions. COPY on PostgreSQL
(executemany elsewhere); the search index is dropped first and built once at the end,
as `search_fill` does. Deterministic (--seed).

    manage.py threads_fill --messages 1000000 --rooms 500 [--users 200] [--follows 500]

Adds rooms `tf-<n>` and users `tf-user-<n>`; refuses to run twice on one database. The
plan (who replies where) is made in memory first, then written: the follower's threads
are picked among the planned ones and their authors/mentions adjusted before any row
is written.
"""

import json
import random
import time
from array import array
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import Max

from chat.content.threads import participants_after
from chat.management.commands.search_fill import BATCH, COLUMNS, _vocabulary, rows_insert
from chat.models import Mention, Message, Room, Thread, ThreadFollow
from chat.search import schema

FOLLOWER = 0  # the index of the user who follows --follows threads
ACTIVE_ROOTS = 4  # per room, the recent roots a reply picks from (threads of ~5 replies)
ROOT_SHARE = 0.1  # of top-level messages, the share that becomes an active root
ALSO_TO_ROOM_SHARE = 0.05
FOLLOWER_UNREAD_SHARE = 0.4  # of the follower's threads, those left with unread replies


class Plan:
    """Every message's room, author and thread (-1: top-level) by its index in time
    order, and which messages name the follower."""

    def __init__(self, total: int) -> None:
        self.room = array("i", bytes(4 * total))
        self.author = array("i", bytes(4 * total))
        self.root = array("i", [-1]) * total
        self.seq = array("q", bytes(8 * total))
        self.mentions_follower: set[int] = set()
        self.replies: dict[int, list[int]] = defaultdict(list)  # root -> replies in order
        self.start = datetime.now(UTC) - timedelta(days=365)  # message 0's created_at
        self.step = timedelta(days=365) / total

    def created_at(self, index: int) -> datetime:
        return self.start + self.step * index


def plan_messages(
    rng: random.Random, total: int, rooms: int, users: int, big: int
) -> tuple[Plan, int, list[int]]:
    """A third of the messages are replies, each to one of the room's recent roots; the
    big thread's root is the first message after the middle, in room 0, and gets
    exactly `big` replies. Returns the plan, the big root's index and the room seqs."""
    plan = Plan(total)
    active: list[deque[int]] = [deque(maxlen=ACTIVE_ROOTS) for _ in range(rooms)]
    seqs = [0] * rooms
    big_root = total // 2
    big_replies = set(rng.sample(range(big_root + 1, total), big))
    replies_done = 0
    for index in range(total):
        room, root = rng.randrange(rooms), -1
        if index == big_root:
            room = 0
        elif index in big_replies:
            room, root = 0, big_root
        elif active[room] and replies_done < (index + 1) // 3:
            root = rng.choice(active[room])
        elif rng.random() < ROOT_SHARE:
            active[room].append(index)
        seqs[room] += 1
        plan.room[index], plan.seq[index], plan.root[index] = room, seqs[room], root
        plan.author[index] = rng.randrange(1, users)  # never the follower (planned below)
        if root >= 0:
            replies_done += 1
            plan.replies[root].append(index)
    return plan, big_root, seqs


def plan_follower(
    rng: random.Random, plan: Plan, big_root: int, follows: int
) -> dict[int, int | None]:
    """Pick the follower's threads and make the follower follow each the way the write
    path would: as the root's author, as a replier, or @named in a reply. Returns root
    -> the pointer to set afterwards (a thread.read up to the newest reply), None where
    the write path's own pointer stays (those threads have unread replies)."""
    candidates = sorted(r for r, replies in plan.replies.items() if len(replies) >= 4)
    chosen = [big_root, *rng.sample([r for r in candidates if r != big_root], follows - 1)]
    pointers: dict[int, int | None] = {}
    for root in chosen:
        replies = plan.replies[root]
        unread = root == big_root or rng.random() < FOLLOWER_UNREAD_SHARE
        kind = "replied" if root == big_root else rng.choice(["root", "replied", "named"])
        # Where the follower joined: early enough that an unread thread has later
        # replies by others.
        at = len(replies) // 2 if root == big_root else rng.randrange(len(replies) - 2)
        if kind == "root":
            plan.author[root] = FOLLOWER
        elif kind == "replied":
            plan.author[replies[at]] = FOLLOWER
        else:
            plan.mentions_follower.add(replies[at])
        if unread and (root == big_root or rng.random() < 0.5):
            later = replies[at + 1 :]
            for reply in rng.sample(later, min(len(later), 10 if root == big_root else 2)):
                plan.mentions_follower.add(reply)
        pointers[root] = None if unread else plan.seq[replies[-1]]
    return pointers


class Command(BaseCommand):
    help = "Fill the database with generated messages and threads for bench/threads.py."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--rooms", type=int, default=500)
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--big-thread", type=int, default=1000, help="replies")
        parser.add_argument("--follows", type=int, default=500, help="the follower's threads")
        parser.add_argument("--seed", type=int, default=24)

    def handle(self, *args: Any, **options: Any) -> None:
        total, room_count, big = options["messages"], options["rooms"], options["big_thread"]
        if not 0 < room_count <= total or total > 50_000_000 or big * 4 > total:
            raise CommandError("Need 0 < rooms <= messages <= 50,000,000, big thread <= 1/4.")
        if Room.objects.filter(slug="tf-0").exists():
            raise CommandError("This database was filled already (room tf-0 exists).")
        rng = random.Random(options["seed"])  # noqa: S311 - repeatable data, no secret
        words = _vocabulary(rng)
        started = time.perf_counter()
        plan, big_root, seqs = plan_messages(rng, total, room_count, options["users"], big)
        pointers = plan_follower(rng, plan, big_root, options["follows"])
        planned = time.perf_counter() - started
        users = User.objects.bulk_create(
            [User(username=f"tf-user-{n}", password="!") for n in range(options["users"])]  # noqa: S106 - "!": unusable
        )
        rooms = Room.objects.bulk_create(
            [Room(slug=f"tf-{n}", name=f"Threads bench {n}") for n in range(room_count)]
        )
        first_id = (Message.objects.aggregate(m=Max("id"))["m"] or 0) + 1
        vendor = connection.vendor
        started = time.perf_counter()
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                schema.pg_drop(cursor)
        self._messages(plan, words, users, rooms, first_id)
        threads, follows, mentions = self._threads(plan, users, rooms, first_id, pointers)
        inserted = time.perf_counter() - started
        with transaction.atomic():
            for filled, seq in zip(rooms, seqs, strict=True):
                Room.objects.filter(pk=filled.pk).update(last_seq=seq)
        started = time.perf_counter()
        q = connection.ops.quote_name
        tables = [q(m._meta.db_table) for m in (Message, Thread, ThreadFollow, Mention)]
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                    [Message._meta.db_table, first_id + total],
                )
                schema.pg_create(cursor, settings.CHAT_SEARCH_CONFIG)
                # What autovacuum would have done by then (it may be off, as on the
                # bench's server): statistics for every table written (200 users
                # taken for 40 made the planner loop over auth_user), and the
                # visibility map.
                for table in [*tables, q(User._meta.db_table), q(Room._meta.db_table)]:
                    cursor.execute(f"VACUUM (ANALYZE) {table}")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        indexed = time.perf_counter() - started
        self.stdout.write(
            f"{vendor}: {total:,} messages ({sum(map(len, plan.replies.values())):,} replies"
            f" in {threads:,} threads) in {room_count} rooms; {follows:,} follows,"
            f" {mentions:,} mentions of {users[FOLLOWER].username} who follows"
            f" {len(pointers)} threads; big thread: root id {first_id + big_root}"
            f" ({len(plan.replies[big_root])} replies). Planned in {planned:.1f} s,"
            f" inserted in {inserted:.1f} s, search index built in {indexed:.1f} s"
        )

    def _messages(
        self, plan: Plan, words: list[str], users: list[User], rooms: list[Room], first_id: int
    ) -> None:
        total = len(plan.room)
        table = connection.ops.quote_name(Message._meta.db_table)
        columns = f"id, thread_id, {COLUMNS}"
        follower = users[FOLLOWER].username
        named = json.dumps([follower])
        rng = random.Random(total)  # noqa: S311 - bodies only
        done = 0
        while done < total:
            rows = []
            for index in range(done, min(done + BATCH, total)):
                body = " ".join(rng.choice(words) for _ in range(rng.randint(6, 16)))
                mentioned = index in plan.mentions_follower
                root = plan.root[index]
                rows.append(
                    (
                        first_id + index,
                        first_id + root if root >= 0 else None,
                        rooms[plan.room[index]].pk,
                        plan.seq[index],
                        "user",
                        users[plan.author[index]].pk,
                        f"@{follower} {body}" if mentioned else body,
                        named if mentioned else "[]",
                        "",
                        "",
                        f"tf{index}",
                        plan.created_at(index),
                        root >= 0 and rng.random() < ALSO_TO_ROOM_SHARE,
                    )
                )
            rows_insert(table, columns, rows)
            done += len(rows)
            self.stdout.write(f"\r{done:,} messages", ending="")
        self.stdout.write("")

    def _threads(
        self,
        plan: Plan,
        users: list[User],
        rooms: list[Room],
        first_id: int,
        pointers: dict[int, int | None],
    ) -> tuple[int, int, int]:
        """The Thread, ThreadFollow and Mention rows, as replies_saved and
        mention_rows_add leave them after every reply in seq order (plus the follower's
        thread.read where the plan says so)."""
        q = connection.ops.quote_name
        threads: list[tuple[Any, ...]] = []
        follows: list[tuple[Any, ...]] = []
        for root, replies in sorted(plan.replies.items()):
            follow: dict[int, int] = {plan.author[root]: 0}  # the root's author, at 0
            participants: list[str] = []
            for reply in replies:
                if reply in plan.mentions_follower:
                    follow.setdefault(FOLLOWER, 0)
                follow[plan.author[reply]] = plan.seq[reply]  # a replier has read it
                participants = participants_after(
                    participants, [users[plan.author[reply]].username]
                )
            last = replies[-1]
            room = rooms[plan.room[root]].pk
            threads.append(
                (
                    first_id + root,
                    room,
                    len(replies),
                    plan.created_at(last),
                    plan.seq[last],
                    json.dumps(participants),
                )
            )
            pointer = pointers.get(root)
            if pointer is not None:
                follow[FOLLOWER] = max(follow[FOLLOWER], pointer)
            follows += [(first_id + root, users[u].pk, True, s) for u, s in follow.items()]
        for at in range(0, len(threads), BATCH):
            rows_insert(
                q(Thread._meta.db_table),
                "root_id, room_id, replies, last_reply_at, last_seq, participants",
                threads[at : at + BATCH],
            )
        for at in range(0, len(follows), BATCH):
            rows_insert(
                q(ThreadFollow._meta.db_table),
                "thread_id, user_id, following, last_read_seq",
                follows[at : at + BATCH],
            )
        mentions = [
            (first_id + m, users[FOLLOWER].pk, rooms[plan.room[m]].pk, plan.seq[m])
            for m in sorted(plan.mentions_follower)
        ]
        rows_insert(q(Mention._meta.db_table), "message_id, user_id, room_id, seq", mentions)
        return len(threads), len(follows), len(mentions)
