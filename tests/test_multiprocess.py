"""Scale-out with real parts: daphne processes, Redis (channels-redis), real WebSocket
clients and session cookies from real logins."""

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat.models import Message, Room
from tests.conftest import TEST_PASSWORD, session_cookie
from tests.servers import daphnes, http_login, recv_json, recv_until, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IDLE_SECONDS = 13  # well past redis-py's 5 s socket timeout and BZPOPMIN's 5 s wait
BULK_CONNECTIONS = 2000
CONNECT_CONCURRENCY = 50
LOG_PROBLEMS = re.compile(r"Traceback|ERROR|Exception|MaxConnectionsError|over capacity", re.I)


def assert_clean_log(log: str) -> None:
    problems = [line for line in log.splitlines() if LOG_PROBLEMS.search(line)]
    assert not problems, "server log has errors:\n" + "\n".join(problems[:20])


async def send_message(ws: Any, body: str, client_id: str) -> None:
    await ws.send(json.dumps({"type": "message.send", "body": body, "client_id": client_id}))


def test_users_on_two_processes_chat_through_redis(
    server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User]
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    with daphnes(server_env, log_dir, 2) as (one, two):
        alice_cookie = http_login(one.http, "alice", TEST_PASSWORD)
        bob_cookie = http_login(two.http, "bob", TEST_PASSWORD)

        async def scenario() -> None:
            alice = await ws_connect(one, "/ws/chat/lobby/", alice_cookie)
            bob = await ws_connect(two, "/ws/chat/lobby/", bob_cookie)
            assert (await recv_json(alice))["user"] == {"username": "alice"}
            assert (await recv_json(bob))["user"] == {"username": "bob"}
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


@pytest.mark.parametrize("layer", ["redis", "memory"])
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


@pytest.mark.parametrize("layer", ["redis", "memory"])
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
