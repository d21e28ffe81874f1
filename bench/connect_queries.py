"""How many SQL queries one all-rooms connect (`/ws/chat/`) costs, for a user in 2, 20
and 200 rooms, and how big its hello is, with empty rooms and again once every room
holds more history than a hello could carry. Not a load test: one connection at a time,
in-process, through the real ASGI application (origin check, session auth, routing,
consumer) with channels' WebsocketCommunicator.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME DJANGO_SECRET_KEY=x \\
        DJANGO_ALLOWED_HOSTS=127.0.0.1 python -m bench.connect_queries [--rooms 2 20 200]
        [--threads 500]

With --threads N, a third pass: the user in the most rooms follows N threads of those
rooms (each with an unread reply, every fifth naming them), and every connect is
counted again: hello's `threads` totals must cost no query per followed thread.

Run on a migrated database (bench/run.py runs it on its own for the `allrooms`
scenario). It adds its own users and rooms (`cq-...`); it never deletes anything.
Every query any thread sends through Django's cursor is counted, from the handshake to
the hello and for `SETTLE_SECONDS` after it (work the consumer does once the hello is
out); the delivery hub's once-a-second sync is pushed out of the window. With REDIS_URL
set, every send to Redis (a command, a pipeline or a script: one round trip each) is
counted too, from the handshake to SETTLE_SECONDS after the close (bench.connect_cost).
"""

import argparse
import asyncio
import json
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django

HISTORY = 60  # messages per room in the second pass: more than CHAT_HISTORY_LIMIT (50)
SETTLE_SECONDS = 0.5
TIMEOUT_SECONDS = 10.0
ORIGIN = b"http://127.0.0.1"


class QueryLog:
    """Every statement Django's cursors execute, in any thread, while recording."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.recording = False
        self.statements: list[str] = []
        self.redis_sends: list[bytes] | None = None  # every send to Redis while set

    def install(self) -> None:
        from django.db.backends import utils

        log = self
        self._install_redis()
        for name in ("execute", "executemany"):
            original = getattr(utils.CursorWrapper, name)

            def wrapped(self: Any, sql: Any, *args: Any, _original: Any = original) -> Any:
                if log.recording:
                    with log.lock:
                        log.statements.append(str(sql))
                return _original(self, sql, *args)

            setattr(utils.CursorWrapper, name, wrapped)

    def _install_redis(self) -> None:
        """Count round trips to Redis: each send of redis-py's asyncio connections is
        one (a pipeline or a script is one send, whatever it holds)."""
        try:
            from redis.asyncio.connection import AbstractConnection
        except ImportError:
            return
        log = self
        original = AbstractConnection.send_packed_command

        async def send(self: Any, command: Any, check_health: bool = True) -> None:
            if log.redis_sends is not None:
                packed = command if isinstance(command, bytes | str) else b"".join(command)
                log.redis_sends.append(packed if isinstance(packed, bytes) else packed.encode())
            await original(self, command, check_health)

        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]

    @contextmanager
    def recording_into(self, into: list[str]) -> Iterator[None]:
        with self.lock:
            self.statements = into
            self.recording = True
        try:
            yield
        finally:
            with self.lock:
                self.recording = False


REDIS_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


def redis_commands(sends: list[bytes]) -> dict[str, int]:
    """Commands by name over the sends (a pipeline's several; a script's EVALSHA one)."""
    return dict(Counter(m.decode().upper() for s in sends for m in REDIS_COMMAND.findall(s)))


def shape_of(sql: str) -> str:
    """A statement reduced to its kind and tables: what repeats per room shows."""
    text = re.sub(r"\s+", " ", sql).strip()
    verb = text.split(" ", 1)[0].upper()
    tables = sorted(set(re.findall(r'(?:FROM|JOIN|UPDATE|INTO) "?([a-z_]+)"?', text, re.I)))
    return f"{verb} {','.join(tables)}"


def setup(room_counts: list[int]) -> tuple[str, dict[int, str]]:
    """Users cq-<run>-<n> in the first n of the cq-<run>-room-* rooms; a session each.
    Returns the run id and n -> cookie."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from chat.models import Membership, Room

    run = f"{os.getpid()}{int(time.time()) % 100000}"
    pointer = any(f.name == "last_read_seq" for f in Membership._meta.get_fields())
    most = max(room_counts)
    cookies: dict[int, str] = {}
    with transaction.atomic():
        Room.objects.bulk_create(
            [Room(slug=f"cq-{run}-room-{i:03d}", name=f"cq room {i:03d}") for i in range(most)]
        )
        rooms = list(Room.objects.filter(slug__startswith=f"cq-{run}-room-").order_by("slug"))
        for count in [0, *room_counts]:  # 0: the warm-up user
            user = User.objects.create(username=f"cq-{run}-{count}", password=make_password(None))
            Membership.objects.bulk_create(
                [
                    Membership(room=room, user=user, **({"last_read_seq": 0} if pointer else {}))
                    for room in rooms[:count]
                ]
            )
            store = SessionStore()
            store[SESSION_KEY] = str(user.pk)
            store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.create()
            cookies[count] = f"sessionid={store.session_key}"
    return run, cookies


def add_history(run: str, count: int = HISTORY) -> None:
    """`count` messages in every cq room of this run, as if they had been posted."""
    from django.contrib.auth.models import User
    from django.db import transaction

    from chat.models import Message, Room

    author = User.objects.get(username=f"cq-{run}-0")
    with transaction.atomic():
        rooms = list(Room.objects.filter(slug__startswith=f"cq-{run}-room-"))
        Message.objects.bulk_create(
            [
                Message(room=room, seq=seq, author=author, body=f"m{seq}", client_id=f"cq-{seq}")
                for room in rooms
                for seq in range(1, count + 1)
            ],
            batch_size=2000,
        )
        Room.objects.filter(pk__in=[r.pk for r in rooms]).update(last_seq=count)


def add_threads(run: str, user_rooms: int, count: int) -> None:
    """`count` threads in the rooms of the user cq-<run>-<user_rooms>, which they follow
    with nothing read: a root and one reply each by the warm-up user, every fifth reply
    naming the user. Rows as the write path leaves them (chat/services/threads.py)."""
    from django.contrib.auth.models import User
    from django.db import transaction

    from chat.models import Mention, Message, Room, Thread, ThreadFollow

    author = User.objects.get(username=f"cq-{run}-0")
    reader = User.objects.get(username=f"cq-{run}-{user_rooms}")
    with transaction.atomic():
        rooms = list(
            Room.objects.filter(slug__startswith=f"cq-{run}-room-").order_by("slug")[:user_rooms]
        )
        seqs = {room.pk: room.last_seq for room in rooms}

        def seq_next(room: Room) -> int:
            seqs[room.pk] += 1
            return seqs[room.pk]

        picked = [rooms[n % len(rooms)] for n in range(count)]
        roots = Message.objects.bulk_create(
            [
                Message(room=r, seq=seq_next(r), author=author, body="root", client_id=f"t{n}")
                for n, r in enumerate(picked)
            ]
        )
        replies = Message.objects.bulk_create(
            [
                Message(
                    room=root.room,
                    seq=seq_next(root.room),
                    author=author,
                    body=f"@{reader.username} reply" if n % 5 == 0 else "reply",
                    mentions=[reader.username] if n % 5 == 0 else [],
                    client_id=f"tr{n}",
                    thread=root,
                )
                for n, root in enumerate(roots)
            ]
        )
        Thread.objects.bulk_create(
            [
                Thread(
                    root=root,
                    room_id=root.room_id,
                    replies=1,
                    last_reply_at=reply.created_at,
                    last_seq=reply.seq,
                    participants=[author.username],
                )
                for root, reply in zip(roots, replies, strict=True)
            ]
        )
        ThreadFollow.objects.bulk_create(
            [
                ThreadFollow(thread_id=root.pk, user=author, last_read_seq=r.seq)
                for root, r in zip(roots, replies, strict=True)
            ]
            + [ThreadFollow(thread_id=root.pk, user=reader) for root in roots]
        )
        Mention.objects.bulk_create(
            [
                Mention(message=reply, user=reader, room_id=reply.room_id, seq=reply.seq)
                for reply in replies
                if reply.mentions
            ]
        )
        for room in rooms:
            Room.objects.filter(pk=room.pk).update(last_seq=seqs[room.pk])


async def connect_once(log: QueryLog, path: str, cookie: str) -> dict[str, Any]:
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application

    headers = [(b"origin", ORIGIN), (b"cookie", cookie.encode())]
    until_hello: list[str] = []
    after_hello: list[str] = []
    comm = WebsocketCommunicator(application, path, headers=headers)
    started = time.perf_counter()
    sends: list[bytes] = []
    log.redis_sends = sends
    try:
        with log.recording_into(until_hello):
            connected, _ = await comm.connect(timeout=TIMEOUT_SECONDS)
            if not connected:
                return {"error": "not accepted"}
            text = await comm.receive_from(timeout=TIMEOUT_SECONDS)
            elapsed = time.perf_counter() - started
        with log.recording_into(after_hello):
            await asyncio.sleep(SETTLE_SECONDS)
    finally:
        await comm.disconnect()
        await asyncio.sleep(SETTLE_SECONDS)  # the disconnect's own Redis calls
        log.redis_sends = None
    frame = json.loads(text)
    return {
        "hello_type": frame.get("type"),
        "hello_bytes": len(text.encode()),
        "hello_rooms": len(frame["rooms"]) if isinstance(frame.get("rooms"), list) else None,
        "hello_threads": frame.get("threads"),
        "queries_until_hello": len(until_hello),
        "queries_after_hello": len(after_hello),
        "ms_until_hello": round(1000 * elapsed, 1),
        "statements": dict(Counter(shape_of(s) for s in until_hello + after_hello)),
        # connect, hello, settle and close (empty without REDIS_URL)
        "redis_round_trips": len(sends),
        "redis_commands": redis_commands(sends),
    }


async def guarded(log: QueryLog, path: str, cookie: str) -> dict[str, Any]:
    try:
        return await connect_once(log, path, cookie)
    except Exception as error:  # e.g. no such route in an older tree: reported
        return {"error": f"{type(error).__name__}: {error}"[:300]}


async def measure(
    log: QueryLog, run: str, cookies: dict[int, str], counts: list[int]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    await guarded(log, "/ws/chat/", cookies[0])  # warm-up: imports, first queries
    for count in counts:
        found[str(count)] = await guarded(log, "/ws/chat/", cookies[count])
    # for comparison: one room on the per-room endpoint (what each room cost before)
    room = f"/ws/chat/cq-{run}-room-000/"
    await guarded(log, room, cookies[counts[0]])
    found["per_room_endpoint"] = await guarded(log, room, cookies[counts[0]])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, nargs="+", default=[2, 20, 200])
    parser.add_argument(
        "--history", type=int, default=HISTORY, help="messages a room in the second pass"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="a third pass: the biggest user follows N threads"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args(argv)
    os.environ["CHAT_SYNC_INTERVAL_SECONDS"] = "3600"  # the hub's sync is not a connect's
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.db import connections

    counts = sorted(args.rooms)
    run, cookies = setup(counts)
    connections.close_all()
    log = QueryLog()
    log.install()

    async def both() -> dict[str, Any]:
        # One event loop for both passes: the process's delivery hub is bound to it.
        empty = await measure(log, run, cookies, counts)
        await asyncio.to_thread(add_history, run, args.history)
        history = await measure(log, run, cookies, counts)
        passes = {"empty": empty, "history": history}
        if args.threads:
            await asyncio.to_thread(add_threads, run, counts[-1], args.threads)
            passes["threads"] = await measure(log, run, cookies, counts)
        return passes

    result = asyncio.run(both())
    result["history_per_room"] = args.history
    result["database"] = connections["default"].vendor
    passes = [("empty rooms", "empty"), (f"{args.history} messages a room", "history")]
    if args.threads:
        passes.append(
            (f"and {args.threads} followed threads (user in {counts[-1]} rooms)", "threads")
        )
    for label, key in passes:
        print(f"{label}:")
        print("  rooms (or endpoint) | queries to hello | after hello | hello bytes | ms to hello")
        for count in [*counts, "per_room_endpoint"]:
            row = result[key][str(count)]
            if "error" in row:
                print(f"  {count:5} | {row['error']}")
                continue
            print(
                f"  {count:5} | {row['queries_until_hello']:16} | {row['queries_after_hello']:11}"
                f" | {row['hello_bytes']:11} | {row['ms_until_hello']:11}"
            )
        print(
            f"  statements at {counts[-1]} rooms: {result[key][str(counts[-1])].get('statements')}"
        )
    if args.threads:
        most = str(counts[-1])
        before, after = result["history"][most], result["threads"][most]
        print(
            f"hello of the user in {most} rooms: {before.get('queries_until_hello')} queries"
            f" following 0 threads {before.get('hello_threads')},"
            f" {after.get('queries_until_hello')} following {args.threads}"
            f" {after.get('hello_threads')}"
        )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
