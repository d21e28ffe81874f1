"""Threads across real daphne processes and real Redis (issue #24): a reply written on
one process reaches the other with its thread.updated and the followers' thread.state;
edits, deletions and reads change the counts on every process; and replies in flight
while a process is stopped are all saved once and delivered once, in seq order."""

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Message, Room, Thread
from tests.chat_client import ChatClient
from tests.conftest import session_cookie
from tests.servers import Daphne, daphnes, recv_json, recv_until, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def post(room: Room, user: User, body: str, thread: int | None = None) -> dict[str, Any]:
    from chat.services.posting import SendRequest, message_post_one

    return dict(message_post_one(SendRequest(room.pk, user, body, f"{body}", thread=thread)))


async def hello_of(server: Daphne, cookie: str) -> tuple[Any, dict[str, Any]]:
    ws = await ws_connect(server, "/ws/chat/", cookie)
    hello = await recv_json(ws)
    assert hello["type"] == "hello"
    return ws, hello


def test_thread_frames_cross_processes(
    shared_daphnes: list[Daphne], make_user: Callable[..., User]
) -> None:
    one, two = shared_daphnes
    alice, bob = make_user("alice"), make_user("bob")
    room = Room.objects.create(slug="ops", name="Ops")
    for user in (alice, bob):
        services.room_join(user=user, slug="ops")
    root = post(room, alice, "deploy?")
    alice_cookie, bob_cookie = session_cookie(alice), session_cookie(bob)

    async def scenario() -> None:
        a1, hello = await hello_of(one, alice_cookie)
        assert hello["threads"] == {"unread_threads": 0, "mentions": 0}
        a2, _ = await hello_of(two, alice_cookie)  # alice's second device
        b, _ = await hello_of(two, bob_cookie)
        send = {"type": "message.send", "room": "ops", "client_id": "r1", "thread": root["id"]}
        await b.send(json.dumps({**send, "body": "after lunch"}))
        ack = await recv_until(b, "ack")
        reply = ack["message"]
        # Process one: the reply as a message of the room, then its summary, and alice
        # (the root's author) now follows with one unread.
        message = await recv_until(a1, "message")
        assert message["message"]["id"] == reply["id"]
        assert message["message"]["thread"] == root["id"]
        updated = await recv_until(a1, "thread.updated")
        assert updated["summary"]["replies"] == 1
        state = await recv_until(a1, "thread.state")
        assert (state["following"], state["unread"], state["mentions"]) == (True, 1, 0)
        # Bob edits it on process two to mention alice: her count follows on process one.
        edit = {"type": "message.edit", "id": reply["id"], "body": "after lunch @alice"}
        await b.send(json.dumps(edit))
        state = await recv_until(a1, "thread.state")
        assert (state["unread"], state["mentions"]) == (1, 1)
        assert state["threads"] == {"unread_threads": 1, "mentions": 1}
        # Alice reads it on her second device (process two): process one hears it.
        read = {"type": "thread.read", "room": "ops", "root": root["id"], "seq": reply["seq"]}
        await a2.send(json.dumps(read))
        state = await recv_until(a1, "thread.state")
        assert (state["unread"], state["last_read_seq"]) == (0, reply["seq"])
        # A second reply, deleted by its author: the summary goes back to one.
        await b.send(json.dumps({**send, "client_id": "r2", "body": "or not"}))
        second = (await recv_until(b, "ack"))["message"]
        await b.send(json.dumps({"type": "message.delete", "id": second["id"]}))
        while (updated := await recv_until(a1, "thread.updated"))["summary"]["replies"] != 1:
            pass
        assert updated["summary"]["last_seq"] == reply["seq"]
        for ws in (a1, a2, b):
            await ws.close()

    asyncio.run(scenario())


SENDERS = 4
CLIENTS = 8
PER_SENDER = 15


def test_replies_in_flight_through_a_sigterm_are_saved_and_delivered_once(
    server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User]
) -> None:
    room = Room.objects.create(slug="lobby2", name="Lobby 2")
    users = [make_user(f"user{i}") for i in range(CLIENTS)]
    for user in users:
        services.room_join(user=user, slug="lobby2")
    root = post(room, users[0], "the thread")
    cookies = [session_cookie(user) for user in users]
    total = 1 + SENDERS * PER_SENDER

    with daphnes(server_env, log_dir, 2) as servers:

        async def scenario() -> list[ChatClient]:
            clients = [
                ChatClient(
                    f"c{i}",
                    cookies[i],
                    servers,
                    home=i % 2,
                    slug="lobby2",
                    all_rooms=True,
                    thread=root["id"] if i < SENDERS else None,
                )
                for i in range(CLIENTS)
            ]
            for client in clients:
                await client.start()

            async def send_all(client: ChatClient) -> None:
                for k in range(PER_SENDER):
                    await client.send(f"{client.name} #{k}")

            async def strike() -> None:
                while sum(len(c.acked) for c in clients) < 20:
                    await asyncio.sleep(0.01)
                servers[1].proc.send_signal(signal.SIGTERM)

            await asyncio.gather(strike(), *(send_all(c) for c in clients[:SENDERS]))
            for client in clients:
                await client.wait_for_seq(total)
            for client in clients:
                await client.stop()
            return clients

        clients = asyncio.run(scenario())
        assert servers[1].proc.wait(timeout=20) == 0
    for client in clients:  # every seq exactly once, in order: replies are the room's
        assert client.seqs == list(range(1, total + 1)), client.name
        assert not client.errors, client.errors
    assert any(c.close_codes and c.close_codes[0] == 1012 for c in clients if c.home == 1)
    replies = Message.objects.filter(thread_id=root["id"])
    assert replies.count() == SENDERS * PER_SENDER  # each saved once
    acked = {cid for client in clients for cid in client.acked}
    assert acked == set(replies.values_list("client_id", flat=True))
    thread = Thread.objects.get(root_id=root["id"])
    assert (thread.replies, thread.last_seq) == (SENDERS * PER_SENDER, total)
