"""Presence and typing: who is online (each user once, across tabs and processes),
typing indicators, idle closes, and no ghosts after a process dies."""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import override_settings

from chat.models import Room
from chat.presence import tracker as presence_tracker
from chat.presence.stores import MemoryStore, RedisStore
from chat.presence.tracker import Presence
from chat.protocol.codes import CloseCode
from tests.conftest import session_cookie
from tests.servers import Daphne, daphnes, recv_json, ws_connect

Open = Callable[..., Any]
NO_SKIP: tuple[str, ...] = ()


async def joined(open_socket: Open, user: User, slug: str) -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, f"/ws/chat/{slug}/")
    assert (await comm.connect())[0]
    hello = await comm.receive_json_from()
    return comm, hello


def presence_frame(
    joined: list[str], left: list[str], count: int, room: str = "general"
) -> dict[str, Any]:
    return {"type": "presence", "room": room, "joined": joined, "left": left, "online_count": count}


async def next_of(comm: Any, kind: str, timeout: float = 3) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout, skip=NO_SKIP)
        if frame["type"] == kind:
            return frame


@pytest.mark.django_db(transaction=True)
async def test_online_list_counts_each_user_once_across_tabs(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    a1, hello = await joined(open_socket, alice, room.slug)
    assert hello["online"] == ["alice"]
    # Everyone in the room gets a user's arrival, that user included.
    assert await next_of(a1, "presence") == presence_frame(["alice"], [], 1)
    b, hello = await joined(open_socket, bob, room.slug)
    assert hello["online"] == ["alice", "bob"]
    assert await next_of(a1, "presence") == presence_frame(["bob"], [], 2)
    assert await next_of(b, "presence") == presence_frame(["bob"], [], 2)
    a2, hello = await joined(open_socket, alice, room.slug)  # a second tab: no event
    assert hello["online"] == ["alice", "bob"]
    await a2.disconnect()
    assert await b.receive_nothing(timeout=0.3, skip=("typing",))
    await a1.disconnect()
    assert await next_of(b, "presence") == presence_frame([], ["alice"], 1)


@override_settings(CHAT_PRESENCE_BATCH_SECONDS=0.05)
async def test_a_change_announced_while_a_batch_is_published_goes_out_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published: list[dict[str, bool]] = []
    publishing, release, second = asyncio.Event(), asyncio.Event(), asyncio.Event()
    real_publish = presence_tracker._publish

    async def slow_publish(
        room_id: int, slug: str, changes: dict[str, bool], count: int | None
    ) -> None:
        published.append(dict(changes))
        if len(published) == 1:
            publishing.set()
            await release.wait()  # a slow layer: the next change comes meanwhile
        else:
            second.set()
        await real_publish(room_id, slug, changes, count)

    monkeypatch.setattr(presence_tracker, "_publish", slow_publish)
    tracker = Presence(MemoryStore())
    await tracker.connected(1, "alice")
    await asyncio.wait_for(publishing.wait(), 5)  # the batch with alice is being published
    assert published == [{"alice": True}]
    await tracker.connected(1, "bob")
    release.set()
    try:
        await asyncio.wait_for(second.wait(), 5)
    except TimeoutError:
        pytest.fail("bob's arrival was never sent")
    assert published == [{"alice": True}, {"bob": True}]


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_HELLO_ONLINE_LIMIT=2)
async def test_hello_names_at_most_the_limit_and_counts_everyone(
    open_socket: Open, make_user: Callable[..., User], room: Room
) -> None:
    users = [await database_sync_to_async(make_user)(name) for name in ("ann", "ben", "cat")]
    for user in users[:2]:
        _, hello = await joined(open_socket, user, room.slug)
    assert (hello["online"], hello["online_count"]) == (["ann", "ben"], 2)
    _, hello = await joined(open_socket, users[2], room.slug)
    assert hello["online_count"] == 3
    assert len(hello["online"]) == 2
    assert set(hello["online"]) < {"ann", "ben", "cat"}


async def test_redis_store_samples_a_big_room_and_counts_it_whole(redis_url: str) -> None:
    store = RedisStore(redis_url, f"test-{uuid.uuid4().hex[:8]}")
    names = [f"user{i:02}" for i in range(12)]
    try:
        for name in names:
            assert await store.arrive(1, name)
        assert await store.online(1, 100) == (names, 12)
        sample, total = await store.online(1, 5)
        assert total == 12
        assert len(sample) == 5
        assert set(sample) < set(names)
        assert sample == sorted(sample)
        assert await store.online(2, 5) == ([], 0)
    finally:
        for name in names:
            await store.depart(1, name)
        await store.redis.aclose()


@pytest.mark.django_db(transaction=True)
async def test_typing_reaches_others_but_never_the_typist(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    a1, _ = await joined(open_socket, alice, room.slug)
    a2, _ = await joined(open_socket, alice, room.slug)
    b, _ = await joined(open_socket, bob, room.slug)
    await a1.send_json_to({"type": "typing"})
    assert await next_of(b, "typing") == {
        "type": "typing",
        "room": "general",
        "user": "alice",
        "thread": None,
    }
    await a1.send_json_to({"type": "typing"})  # within the interval: thinned out
    assert await b.receive_nothing(timeout=0.3, skip=("presence",))
    for own in (a1, a2):
        assert await own.receive_nothing(timeout=0.2, skip=("presence",))


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_IDLE_TIMEOUT_SECONDS=0.3, CHAT_SYNC_INTERVAL_SECONDS=0.1)
async def test_silent_connection_is_closed_after_idle_timeout(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    quiet, _ = await joined(open_socket, alice, room.slug)
    chatty, _ = await joined(open_socket, bob, room.slug)
    for _ in range(6):
        await chatty.send_json_to({"type": "typing"})
        await asyncio.sleep(0.1)
    while (out := await quiet.receive_output(timeout=2))["type"] != "websocket.close":
        pass
    assert out == {"type": "websocket.close", "code": CloseCode.IDLE}
    assert await chatty.receive_nothing(timeout=0.1, skip=("presence", "typing"))


# --- across processes, with Redis -----------------------------------------------------


def redis_keys(url: str, prefix: str) -> set[str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {str(key) for key in client.scan_iter(match=f"{prefix}:*", count=1000)}
    finally:
        client.close()


async def open_room(server: Daphne, cookie: str) -> tuple[Any, dict[str, Any]]:
    ws = await ws_connect(server, "/ws/chat/lobby/", cookie)
    return ws, await recv_json(ws)


async def wait_presence(ws: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        frame = await recv_json(ws, max(deadline - time.monotonic(), 0.01))
        if frame["type"] == "presence":
            return frame


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_users_on_two_processes_see_each_other_and_tabs_count_once(
    shared_daphnes: list[Daphne], alice: User, bob: User
) -> None:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    alice_cookie, bob_cookie = session_cookie(alice), session_cookie(bob)
    one, two = shared_daphnes

    async def scenario() -> None:
        a1, hello = await open_room(one, alice_cookie)
        assert hello["online"] == ["alice"]
        assert (await wait_presence(a1, 5))["joined"] == ["alice"]
        b, hello = await open_room(two, bob_cookie)
        assert hello["online"] == ["alice", "bob"]
        assert await wait_presence(a1, 5) == presence_frame(["bob"], [], 2, "lobby")
        a2, hello = await open_room(two, alice_cookie)  # alice's second tab, process two
        assert hello["online"] == ["alice", "bob"]
        await a1.close()
        assert (await wait_presence(b, 5))["joined"] == ["bob"]
        with pytest.raises(TimeoutError):
            await wait_presence(b, 1)  # alice still has a tab: no event
        await a2.close()
        assert await wait_presence(b, 5) == presence_frame([], ["alice"], 1, "lobby")
        await b.send(json.dumps({"type": "typing"}))
        await b.close()

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_users_of_a_killed_process_leave_within_the_bound(
    server_env: dict[str, str], log_dir: Path, alice: User, bob: User
) -> None:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    bound = 4.0
    env = {**server_env, "CHAT_PRESENCE_TIMEOUT_SECONDS": str(bound)}
    alice_cookie, bob_cookie = session_cookie(alice), session_cookie(bob)
    with daphnes(env, log_dir, 2) as (one, two):

        async def scenario() -> float:
            b, _ = await open_room(two, bob_cookie)
            assert (await wait_presence(b, 5))["joined"] == ["bob"]
            _alice, _ = await open_room(one, alice_cookie)
            assert (await wait_presence(b, 5))["joined"] == ["alice"]
            one.proc.kill()
            killed = time.monotonic()
            left = await wait_presence(b, bound + 5)
            assert left == presence_frame([], ["alice"], 1, "lobby")
            elapsed = time.monotonic() - killed
            _, hello = await open_room(two, bob_cookie)
            assert hello["online"] == ["bob"]
            await b.close()
            return elapsed

        elapsed = asyncio.run(scenario())
    assert elapsed <= bound + 0.5, f"ghost lasted {elapsed:.1f}s, bound {bound}s"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_connect_disconnect_soak_leaks_no_presence_or_redis_keys(
    shared_daphnes: list[Daphne],
    shared_server_env: dict[str, str],
    make_user: Callable[..., User],
    redis_url: str,
) -> None:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    cookies = [session_cookie(make_user(f"soak{n}")) for n in range(20)]
    watcher_cookie = session_cookie(make_user("watcher"))
    prefix = shared_server_env["CHAT_LAYER_PREFIX"]
    cycles, concurrency = 2000, 25
    servers = shared_daphnes

    async def scenario() -> None:
        watcher, hello = await open_room(servers[0], watcher_cookie)
        assert hello["online"] == ["watcher"]
        keys_before = redis_keys(redis_url, prefix)

        async def worker(index: int) -> None:
            for n in range(index, cycles, concurrency):
                ws, hello = await open_room(servers[n % 2], cookies[n % len(cookies)])
                assert hello["type"] == "hello"
                await ws.close()

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        _, hello = await open_room(servers[1], watcher_cookie)
        assert hello["online"] == ["watcher"]
        # The last closes' departures settle. The deadline is far below the entries'
        # TTL (45 s by default), so a leaked key cannot expire away meanwhile.
        deadline = time.monotonic() + 5
        while (keys := redis_keys(redis_url, prefix)) != keys_before:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert keys == keys_before
        await watcher.close()

    asyncio.run(scenario())


async def test_arriving_in_many_rooms_costs_the_same_redis_round_trips_as_in_two(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.asyncio.connection import AbstractConnection

    sends: list[int] = []
    real_send = AbstractConnection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sends.append(1)
        await real_send(self, command, check_health)

    store = RedisStore(redis_url, f"test-{uuid.uuid4().hex[:8]}")
    tracker = Presence(store)
    try:
        await store.redis.ping()  # connect first: the handshake is not the cost measured
        costs = []
        for rooms in (range(1, 3), range(10, 60)):
            monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
            sends.clear()
            await tracker.connected_many({room: f"r{room}" for room in rooms}, "alice")
            costs.append(len(sends))
            sends.clear()
            await tracker.disconnected_many(list(rooms), "alice")
            costs.append(len(sends))
            monkeypatch.undo()
        assert costs[0] >= 1, "nothing counted: the test would prove nothing"
        assert costs[0:2] == costs[2:4], costs
        assert await store.slug(42) == "r42"  # a sweep on any process can name the room
    finally:
        await store.redis.delete(store.slugs_key)
        await store.redis.aclose()
