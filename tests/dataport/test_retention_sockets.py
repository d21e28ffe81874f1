"""Retention seen by connected clients on real daphne processes (#27): a run in another
process (the job runner's) tells every connection where history now begins
(room.trimmed), their new unread counts (room.read) and thread summaries
(thread.updated); a history page and a fresh hello start at the oldest kept message."""

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from channels import layers as channel_layers
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone

from chat import services
from chat.models import Message, Room
from dataport import retention
from tests.conftest import session_cookie
from tests.servers import Daphne, recv_json, recv_until, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def post(room: Room, user: User, body: str, thread: int | None = None) -> dict[str, Any]:
    from chat.services.posting import SendRequest, message_post_one

    return dict(message_post_one(SendRequest(room.pk, user, body, body, thread=thread)))


async def frames_until_trimmed(ws: Any, before: int) -> list[dict[str, Any]]:
    """Every frame up to the room.trimmed that says history begins at `before`."""
    seen: list[dict[str, Any]] = []
    for _ in range(200):
        frame = await recv_json(ws)
        seen.append(frame)
        if frame["type"] == "room.trimmed" and frame["before"] >= before:
            return seen
    raise AssertionError(f"no room.trimmed up to {before}: {seen}")


@pytest.fixture
def redis_layer(shared_server_env: dict[str, str]) -> Iterator[None]:
    """This test process publishes through the servers' Redis, as the job runner would."""
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": shared_server_env["REDIS_URL"]}],
                "prefix": shared_server_env["CHAT_LAYER_PREFIX"],
            },
        }
    }
    with override_settings(CHANNEL_LAYERS=layers):
        channel_layers.channel_layers.backends.clear()
        yield
    channel_layers.channel_layers.backends.clear()


def test_connected_clients_see_history_end_at_the_oldest_kept_message(
    shared_daphnes: list[Daphne],
    make_user: Callable[..., User],
    redis_layer: None,
    settings: Any,
) -> None:
    settings.CHAT_RETENTION_DAYS = 30
    one, two = shared_daphnes
    alice, bob = make_user("alice"), make_user("bob")
    room = Room.objects.create(slug="ops", name="Ops")
    for user in (alice, bob):
        services.room_join(user=user, slug="ops")
    old = [post(room, bob, f"old {n}") for n in range(7)]
    root = post(room, alice, "living thread")
    old_reply = post(room, bob, "old reply", thread=root["id"])
    ids = [m["id"] for m in [*old, root, old_reply]]
    Message.objects.filter(pk__in=ids).update(created_at=timezone.now() - timedelta(days=31))
    new_reply = post(room, bob, "new reply", thread=root["id"])
    kept = post(room, bob, "kept")
    alice_cookie, bob_cookie = session_cookie(alice), session_cookie(bob)

    async def scenario() -> None:
        everyone = await ws_connect(one, "/ws/chat/", alice_cookie)
        hello = await recv_json(everyone)
        [ops] = [r for r in hello["rooms"] if r["slug"] == "ops"]
        assert ops["unread"] == 8  # seven old and kept (the root is hers, replies in a thread)
        per_room = await ws_connect(two, "/ws/chat/ops/", bob_cookie)
        assert (await recv_json(per_room))["type"] == "hello"
        # The run, in this process: both processes hear of it through Redis.
        report = await asyncio.to_thread(retention.retention_run, batch=4)
        assert (report.messages, report.emptied_roots) == (8, 1)
        # Batches of four, each followed by its frames: the counts of those who had them
        # unread, then where history begins; the last one at the oldest kept seq.
        seen = await frames_until_trimmed(everyone, new_reply["seq"])
        reads = [f for f in seen if f["type"] == "room.read" and f["room"] == "ops"]
        # Alice's count: only the kept message is unread now (exact, not estimated).
        assert (reads[-1]["unread"], reads[-1]["mentions"]) == (1, 0)
        befores = [f["before"] for f in seen if f["type"] == "room.trimmed"]
        assert befores == sorted(befores)
        assert befores[-1] == new_reply["seq"]
        assert (await frames_until_trimmed(per_room, new_reply["seq"]))[-1]["room"] == "ops"
        # Scrollback stops at the oldest kept message; the root shows as deleted.
        fetch = {"type": "history.fetch", "room": "ops", "before": kept["seq"] + 1}
        await everyone.send(json.dumps({**fetch, "limit": 50}))
        page = await recv_until(everyone, "history")
        visible = [m["seq"] for m in page["messages"] if not m.get("deleted")]
        assert visible == [kept["seq"]]
        # A fresh connection's hello starts there too.
        again = await ws_connect(two, "/ws/chat/ops/", bob_cookie)
        fresh = await recv_json(again)
        assert [m["seq"] for m in fresh["history"] if not m.get("deleted")] == [kept["seq"]]
        for ws in (everyone, per_room, again):
            await ws.close()

    asyncio.run(scenario())
