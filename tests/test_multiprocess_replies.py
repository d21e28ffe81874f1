"""Replies across real daphne processes (#16): a reply chain written on two processes
comes back whole to a client that resumes on the other one, with its html, and a reply
whose original was deleted meanwhile says so, without the text."""

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.servers import daphnes, http_login, recv_json, recv_until, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


# Message frames a socket received while `say` waited for its ack: the broadcast of a
# send and its ack may come in either order (docs/protocol.md), so none is dropped.
early: dict[Any, list[dict[str, Any]]] = {}


async def say(ws: Any, body: str, client_id: str, reply_to: int | None = None) -> dict[str, Any]:
    frame = {"type": "message.send", "room": "lobby", "body": body, "client_id": client_id}
    await ws.send(json.dumps({**frame, "reply_to": reply_to}))
    while (got := await recv_json(ws))["type"] != "ack":
        if got["type"] == "message":
            early.setdefault(ws, []).append(got["message"])
    message: dict[str, Any] = got["message"]
    return message


async def messages_until(ws: Any, seq: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = early.pop(ws, [])
    while not got or got[-1]["seq"] < seq:
        got.append((await recv_until(ws, "message"))["message"])
    return got


def test_a_reply_chain_survives_a_reconnect_with_resume(
    server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User]
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    for user in (alice, bob):
        services.room_join(user=user, slug="lobby")
    with daphnes(server_env, log_dir, 2) as (one, two):
        alice_cookie = http_login(one.http, "alice", TEST_PASSWORD)
        bob_cookie = http_login(two.http, "bob", TEST_PASSWORD)

        async def scenario() -> None:
            a = await ws_connect(one, "/ws/chat/", alice_cookie)
            b = await ws_connect(two, "/ws/chat/", bob_cookie)
            assert (await recv_json(a))["type"] == "hello"
            assert (await recv_json(b))["type"] == "hello"
            question = await say(a, "Ship **v2** today?", "q")
            seen = await messages_until(b, question["seq"])
            answer = await say(b, "only if `make test` passes", "r1", reply_to=question["id"])
            await messages_until(b, answer["seq"])
            resume_after = answer["seq"]
            await b.close()
            # While bob is away: the chain grows on process one, and its start is deleted.
            follow = await say(a, "it does, see https://ci.example.com/7", "r2", answer["id"])
            await a.send(json.dumps({"type": "message.delete", "id": question["id"]}))
            await recv_until(a, "message.deleted")
            last = await say(a, "shipping", "r3", reply_to=follow["id"])

            # Bob resumes on the other process: the chain comes back whole, in seq order.
            b = await ws_connect(one, f"/ws/chat/?after=lobby:{resume_after}", bob_cookie)
            hello = await recv_json(b)
            assert hello["rooms"][0]["resumed"] == {"after": resume_after, "complete": True}
            resumed = await messages_until(b, last["seq"])
            assert [m["id"] for m in resumed] == [follow["id"], last["id"]]
            assert resumed[0]["reply_to"] == {
                "id": answer["id"],
                "seq": answer["seq"],
                "author": "bob",
                "excerpt": "only if `make test` passes",
                "deleted": False,
            }
            assert resumed[1]["reply_to"] == {
                "id": follow["id"],
                "seq": follow["seq"],
                "author": "alice",
                "excerpt": "it does, see https://ci.example.com/7",
                "deleted": False,
            }
            assert 'href="https://ci.example.com/7"' in resumed[0]["html"]
            # A fresh page of history: the reply to the deleted question says so, no text.
            await b.send(
                json.dumps({"type": "history.fetch", "room": "lobby", "before": last["seq"] + 1})
            )
            page = (await recv_until(b, "history"))["messages"]
            by_id = {m["id"]: m for m in page}
            assert question["id"] not in by_id
            assert by_id[answer["id"]]["reply_to"] == {
                "id": question["id"],
                "seq": question["seq"],
                "author": None,
                "excerpt": "",
                "deleted": True,
            }
            assert by_id[answer["id"]]["html"] == "<p>only if <code>make test</code> passes</p>"
            assert "Ship" not in json.dumps(page)
            assert seen[-1]["html"] == "<p>Ship <strong>v2</strong> today?</p>"
            await a.close()
            await b.close()

        asyncio.run(scenario())
