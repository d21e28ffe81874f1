"""Scale-out with real parts: daphne processes, Redis (channels-redis), real WebSocket
clients and session cookies from real logins."""

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Message, Room
from tests.conftest import TEST_PASSWORD, session_cookie
from tests.servers import Daphne, daphnes, http_login, recv_json, recv_until, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IDLE_SECONDS = 13  # well past redis-py's 5 s socket timeout and BZPOPMIN's 5 s wait
BULK_CONNECTIONS = 2000
CONNECT_CONCURRENCY = 50
# Each install shape on its own engine: the small one (SQLite, the in-memory layer, one
# process) and the one past a machine (PostgreSQL, Redis). Every pair is the shape a
# user runs; the crossed ones only doubled the suite's longest tests.
LAYERS = ["memory"] if os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite") else ["redis"]
LOG_PROBLEMS = re.compile(r"Traceback|ERROR|Exception|MaxConnectionsError|over capacity", re.I)


def assert_clean_log(log: str) -> None:
    problems = [line for line in log.splitlines() if LOG_PROBLEMS.search(line)]
    assert not problems, "server log has errors:\n" + "\n".join(problems[:20])


def jobs_drained(timeout: float = 15) -> None:
    """Wait until no background job is due or running (later ones, such as a missed-
    messages email, stay queued)."""
    from django_tasks_db.models import DBTaskResult

    deadline = time.monotonic() + timeout
    while DBTaskResult.objects.ready().exists() or DBTaskResult.objects.running().exists():
        assert time.monotonic() < deadline, "a background job did not finish"
        time.sleep(0.1)


async def send_message(ws: Any, body: str, client_id: str) -> None:
    await ws.send(json.dumps({"type": "message.send", "body": body, "client_id": client_id}))


def test_users_on_two_processes_chat_through_redis(
    shared_daphnes: list[Daphne], make_user: Callable[..., User]
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    one, two = shared_daphnes
    alice_cookie = http_login(one.http, "alice", TEST_PASSWORD)
    bob_cookie = http_login(two.http, "bob", TEST_PASSWORD)

    async def scenario() -> None:
        alice = await ws_connect(one, "/ws/chat/lobby/", alice_cookie)
        bob = await ws_connect(two, "/ws/chat/lobby/", bob_cookie)
        assert (await recv_json(alice))["user"]["username"] == "alice"
        assert (await recv_json(bob))["user"]["username"] == "bob"
        await send_message(alice, "from process one", "a1")
        got = await recv_until(bob, "message")
        assert got["message"]["body"] == "from process one"
        assert got["message"]["author"] == "alice"
        await send_message(bob, "and back from two", "b1")
        got = await recv_until(alice, "message")
        while got["message"]["author"] != "bob":
            got = await recv_until(alice, "message")
        assert got["message"]["body"] == "and back from two"
        await alice.close()
        await bob.close()

    asyncio.run(scenario())
    assert list(Message.objects.order_by("seq").values_list("seq", "body")) == [
        (1, "from process one"),
        (2, "and back from two"),
    ]
    for server in (one, two):
        assert_clean_log(server.log())


@pytest.mark.parametrize("layer", LAYERS)
def test_idle_connections_stay_open_and_keep_receiving(
    layer: str, server_env: dict[str, str], log_dir: Path, alice: User, bob: User
) -> None:
    env = server_env if layer == "redis" else {**server_env, "REDIS_URL": ""}
    count = 2 if layer == "redis" else 1  # the in-memory layer is for one process
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    cookies = [session_cookie(alice), session_cookie(bob)]
    with daphnes(env, log_dir, count) as servers:

        async def scenario() -> None:
            sockets = [
                await ws_connect(servers[i % count], "/ws/chat/lobby/", cookies[i % 2])
                for i in range(6)
            ]
            for ws in sockets:
                assert (await recv_json(ws))["type"] == "hello"
            await asyncio.sleep(IDLE_SECONDS)
            await send_message(sockets[0], "after a long quiet", "idle-1")
            for ws in sockets:
                got = await recv_until(ws, "message")
                assert got["message"]["body"] == "after a long quiet"
                assert ws.close_code is None
            for ws in sockets:
                await ws.close()

        asyncio.run(scenario())
        for server in servers:
            assert_clean_log(server.log())


@pytest.mark.parametrize("layer", LAYERS)
def test_one_process_holds_2000_authenticated_connections(
    layer: str, server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User]
) -> None:
    env = server_env if layer == "redis" else {**server_env, "REDIS_URL": ""}
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    cookies = [session_cookie(make_user(f"user{n}")) for n in range(20)]
    with daphnes(env, log_dir, 1) as (server,):

        async def scenario() -> None:
            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

            async def open_one(n: int) -> Any:
                async with gate:
                    ws = await ws_connect(server, "/ws/chat/lobby/", cookies[n % len(cookies)])
                    assert (await recv_json(ws, timeout=30))["type"] == "hello"
                    return ws

            sockets = await asyncio.gather(*(open_one(n) for n in range(BULK_CONNECTIONS)))
            await send_message(sockets[0], "to all 2000", "bulk-1")

            async def delivered(ws: Any) -> str:
                return str((await recv_until(ws, "message", timeout=60))["message"]["body"])

            bodies = await asyncio.gather(*(delivered(ws) for ws in sockets))
            assert bodies == ["to all 2000"] * BULK_CONNECTIONS
            assert all(ws.close_code is None for ws in sockets)
            await asyncio.gather(*(ws.close() for ws in sockets))

        asyncio.run(scenario())
        assert server.proc.poll() is None
        assert_clean_log(server.log())


def test_all_rooms_read_state_follows_the_user_across_processes(
    shared_daphnes: list[Daphne], make_user: Callable[..., User]
) -> None:
    """One user with a tab on each process: a room.read on one reaches the other within
    a second, and a message in a room the page is not showing arrives there (named by
    its room) so the page can count it; the counts agree with a fresh hello."""
    from chat import services

    alice, bob = make_user("alice"), make_user("bob")
    for slug in ("lobby", "design"):
        Room.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
        for user in (alice, bob):
            services.room_join(user=user, slug=slug)
    lobby = Room.objects.get(slug="lobby")
    for n in range(3):
        services.message_post(room_id=lobby.pk, author=bob, body=f"m{n}", client_id=f"m{n}")
    alice_cookie, bob_cookie = session_cookie(alice), session_cookie(bob)
    one, two = shared_daphnes

    async def scenario() -> None:
        tab_a = await ws_connect(one, "/ws/chat/", alice_cookie)
        tab_b = await ws_connect(two, "/ws/chat/", alice_cookie)
        hello_a, hello_b = await recv_json(tab_a), await recv_json(tab_b)
        assert hello_a["rooms"] == hello_b["rooms"]
        rooms = {room["slug"]: room for room in hello_b["rooms"]}
        assert (rooms["lobby"]["unread"], rooms["lobby"]["last_seq"]) == (3, 3)
        assert (rooms["design"]["unread"], rooms["design"]["last_seq"]) == (0, 0)

        # A room.read on process one reaches the tab on process two within a second.
        started = asyncio.get_running_loop().time()
        await tab_a.send(json.dumps({"type": "room.read", "room": "lobby", "seq": 3}))
        read = await recv_until(tab_b, "room.read", timeout=1)
        assert asyncio.get_running_loop().time() - started < 1
        assert read == {
            "type": "room.read",
            "room": "lobby",
            "last_read_seq": 3,
            "unread": 0,
            "mentions": 0,
            "last_seq": 3,
        }
        assert (await recv_until(tab_a, "room.read"))["last_read_seq"] == 3

        # bob writes in design, which alice's page is not showing: the frame names
        # the room, and the page adds it to the counts it holds (exact as of last_seq).
        bob_ws = await ws_connect(one, "/ws/chat/", bob_cookie)
        await recv_json(bob_ws)
        frame = {
            "type": "message.send",
            "room": "design",
            "body": "@alice look",
            "client_id": "d1",
        }
        await bob_ws.send(json.dumps(frame))
        for tab in (tab_a, tab_b):
            got = await recv_until(tab, "message")
            assert got["room"] == "design"
            assert (got["message"]["seq"], got["message"]["author"]) == (1, "bob")
            assert got["message"]["mentions"] == ["alice"]
        # unread = hello's count + counting messages past its last_seq = 0 + 1
        fresh = await ws_connect(two, "/ws/chat/", alice_cookie)
        rooms = {room["slug"]: room for room in (await recv_json(fresh))["rooms"]}
        assert (rooms["design"]["unread"], rooms["design"]["mentions"]) == (1, 1)
        assert rooms["lobby"]["unread"] == 0

        await tab_b.send(json.dumps({"type": "room.read", "room": "design", "seq": 1}))
        read = await recv_until(tab_a, "room.read", timeout=1)
        assert (read["room"], read["unread"], read["mentions"]) == ("design", 0, 0)
        for ws in (tab_a, tab_b, bob_ws, fresh):
            await ws.close()

    asyncio.run(scenario())
    # The mention queued a notification job on the shared servers: let it finish before
    # this test's flush empties its table under it (the next test reads their logs).
    jobs_drained()
    for server in (one, two):
        assert_clean_log(server.log())
        # every daphne internal the adapter patches was found: no fallback taken
        assert "internals missing" not in server.log()


def test_a_reaction_on_one_process_reaches_the_other_in_order_with_the_next_message(
    shared_daphnes: list[Daphne], make_user: Callable[..., User]
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    bob_user = make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    # Joined, for the all-rooms socket (an earlier test's flush may have taken the
    # default lobby, which accounts join when they are made).
    services.room_join(user=bob_user, slug="lobby")
    rounds = 15
    one, two = shared_daphnes
    alice_cookie = http_login(one.http, "alice", TEST_PASSWORD)
    bob_cookie = http_login(two.http, "bob", TEST_PASSWORD)

    async def scenario() -> None:
        alice = await ws_connect(one, "/ws/chat/lobby/", alice_cookie)
        bob = await ws_connect(two, "/ws/chat/", bob_cookie)  # all rooms, other process
        await recv_json(alice)
        await recv_json(bob)
        await send_message(alice, "react to me", "target")
        target = (await recv_until(bob, "message"))["message"]
        expected: list[tuple[str, object]] = []
        for n in range(rounds):
            # Sent back to back: the reaction is saved and published before the
            # message, so every connection, on every process, must show it first.
            kind = "reaction.add" if n % 2 == 0 else "reaction.remove"
            frame = {"type": kind, "message_id": target["id"], "emoji": "👍"}
            await alice.send(json.dumps(frame))
            await send_message(alice, f"after {n}", f"after-{n}")
            expected += [("reaction", 1 - n % 2), ("message", f"after {n}")]
        seen: list[tuple[str, object]] = []
        while len(seen) < len(expected):
            got = await recv_json(bob)
            if got["type"] == "reaction":
                seen.append(("reaction", got["count"]))
            elif got["type"] == "message":
                seen.append(("message", got["message"]["body"]))
        assert seen == expected
        # Saved: a new hello on the other process shows the count.
        again = await ws_connect(two, "/ws/chat/lobby/", bob_cookie)
        history = (await recv_json(again))["history"]
        assert history[0]["reactions"] == [{"emoji": "👍", "count": 1, "me": False}]
        for ws in (alice, bob, again):
            await ws.close()

    asyncio.run(scenario())
    for server in (one, two):
        assert_clean_log(server.log())
