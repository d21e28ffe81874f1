"""Delivery rules on one connection (in-process): resume, scrollback, idempotent send,
gap filling and catch-up when the channel layer loses an event."""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import override_settings

from chat import events, realtime, selectors, services
from chat.database import dbcalls
from chat.models import Message, Room
from chat.protocol.codes import CloseCode
from tests.published import intercept, of_type, post_unpublished

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]


async def post(room: Room, user: User, body: str, client_id: str | None = None) -> int:
    # As a frame's service call does: returns once the message's event has left.
    message = await dbcalls.write(
        services.message_post, room_id=room.pk, author=user, body=body, client_id=client_id or body
    )
    return int(message["seq"])


async def joined(open_socket: Open, user: User, path: str) -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, path)
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello"
    return comm, hello


async def next_messages(comm: Any, count: int) -> list[int]:
    seqs: list[int] = []
    while len(seqs) < count:
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] == "message":
            seqs.append(frame["message"]["seq"])
    return seqs


async def test_resume_after_seq_returns_every_later_message(
    open_socket: Open, alice: User, room: Room
) -> None:
    for n in range(1, 71):
        await post(room, alice, f"m{n}")
    _, hello = await joined(open_socket, alice, f"/ws/chat/{room.slug}/?after=12")
    assert [m["seq"] for m in hello["history"]] == list(range(13, 71))  # more than 50
    assert hello["resumed"] == {"after": 12, "complete": True}


@override_settings(CHAT_RESUME_LIMIT=5)
async def test_resume_past_the_cap_says_so_and_client_pages(
    open_socket: Open, alice: User, room: Room
) -> None:
    for n in range(1, 21):
        await post(room, alice, f"m{n}")
    comm, hello = await joined(open_socket, alice, f"/ws/chat/{room.slug}/?after=3")
    assert [m["seq"] for m in hello["history"]] == [16, 17, 18, 19, 20]
    assert hello["resumed"] == {"after": 3, "complete": False}
    await comm.send_json_to({"type": "history.fetch", "before": 16, "limit": 100})
    page = await comm.receive_json_from()
    assert page["type"] == "history"
    assert [m["seq"] for m in page["messages"]] == list(range(1, 16))


async def test_resume_seam_has_no_gap_or_duplicate_while_messages_flow(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    for n in range(1, 6):
        await post(room, alice, f"m{n}")
    sending = asyncio.ensure_future(
        asyncio.gather(*(post(room, bob, f"live{n}") for n in range(30)))
    )
    comm, hello = await joined(open_socket, alice, f"/ws/chat/{room.slug}/?after=2")
    await sending
    seqs = [m["seq"] for m in hello["history"]]
    seqs += await next_messages(comm, 35 - seqs[-1])
    assert seqs == list(range(3, 36))
    assert await comm.receive_nothing(timeout=0.3)


@pytest.mark.parametrize("after", ["x", "-1", "1e3"])
async def test_bad_after_is_closed_with_4400(
    open_socket: Open, alice: User, room: Room, after: str
) -> None:
    comm = await open_socket(alice, f"/ws/chat/{room.slug}/?after={after}")
    assert (await comm.connect())[0]
    assert await comm.receive_output() == {"type": "websocket.close", "code": CloseCode.BAD_REQUEST}


async def test_resume_after_a_future_seq_still_gets_new_messages(
    open_socket: Open, alice: User, room: Room
) -> None:
    await post(room, alice, "one")
    comm, hello = await joined(open_socket, alice, f"/ws/chat/{room.slug}/?after=999")
    assert hello["history"] == []
    await post(room, alice, "two")
    assert await next_messages(comm, 1) == [2]


async def test_history_fetch_pages_backwards(open_socket: Open, alice: User, room: Room) -> None:
    for n in range(1, 121):
        await post(room, alice, f"m{n}")
    comm, hello = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    assert hello["history"][0]["seq"] == 71
    await comm.send_json_to({"type": "history.fetch", "before": 71, "limit": 100})
    page = await comm.receive_json_from()
    assert page == {"type": "history", "before": 71, "messages": page["messages"]}
    assert [m["seq"] for m in page["messages"]] == list(range(1, 71))[-100:]
    await comm.send_json_to({"type": "history.fetch", "before": 5})
    assert [m["seq"] for m in (await comm.receive_json_from())["messages"]] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "history.fetch"},
        {"type": "history.fetch", "before": 0},
        {"type": "history.fetch", "before": "5"},
        {"type": "history.fetch", "before": 5, "limit": 101},
        {"type": "history.fetch", "before": 5, "limit": 0},
        {"type": "history.fetch", "before": True},
    ],
)
async def test_bad_history_fetch_is_an_error(
    open_socket: Open, alice: User, room: Room, frame: dict[str, Any]
) -> None:
    comm, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    await comm.send_json_to(frame)
    assert (await comm.receive_json_from())["code"] == "bad_frame"


async def test_same_client_id_from_two_connections_yields_one_message(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    first, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    second, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    watcher, _ = await joined(open_socket, bob, f"/ws/chat/{room.slug}/")
    frame = {"type": "message.send", "body": "once", "client_id": "dup-1"}
    await asyncio.gather(first.send_json_to(frame), second.send_json_to(frame))
    acks = []
    for comm in (first, second):
        while True:
            got = await comm.receive_json_from(timeout=5)
            if got["type"] == "ack":
                acks.append(got["message"])
                break
    assert acks[0] == acks[1]
    assert await next_messages(watcher, 1) == [1]
    assert await watcher.receive_nothing(timeout=0.3)
    # Resending later, even after reconnecting, still answers with the original.
    await first.send_json_to({**frame, "body": "changed"})
    got = await first.receive_json_from()
    while got["type"] != "ack":
        got = await first.receive_json_from()
    assert got["message"] == acks[0]
    assert await database_sync_to_async(Message.objects.count)() == 1


async def post_after_two_lost(room: Room, alice: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seqs 1 and 2 are saved but their events never published; seq 3's is."""
    with monkeypatch.context() as losing:
        intercept(losing, lose=of_type("chat.messages"))
        await post(room, alice, "lost one")
        await post(room, alice, "lost two")
    await post(room, alice, "arrives")


async def test_lost_event_gap_is_filled_before_later_messages(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    await post_after_two_lost(room, alice, monkeypatch)
    frames: list[tuple[int, str]] = []
    while len(frames) < 3:
        got = await comm.receive_json_from(timeout=5)
        if got["type"] == "message":
            frames.append((got["message"]["seq"], got["message"]["body"]))
    assert frames == [(1, "lost one"), (2, "lost two"), (3, "arrives")]


async def test_a_gap_is_read_once_for_the_whole_room_and_delivered_in_order(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    comms = [(await joined(open_socket, alice, f"/ws/chat/{room.slug}/"))[0] for _ in range(10)]
    reads: list[dict[str, Any]] = []
    real_list = selectors.message_list

    def counted(**kwargs: Any) -> Any:
        reads.append(kwargs)
        return real_list(**kwargs)

    monkeypatch.setattr(selectors, "message_list", counted)
    await post_after_two_lost(room, alice, monkeypatch)
    for comm in comms:
        assert await next_messages(comm, 3) == [1, 2, 3]
    assert len(reads) == 1, reads  # one read for ten connections, not ten


@override_settings(CHAT_SYNC_INTERVAL_SECONDS=0.1)
async def test_lost_last_event_is_delivered_by_the_periodic_sync(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    intercept(monkeypatch, lose=of_type("chat.messages"))
    await post(room, alice, "nobody published me")
    got = await comm.receive_json_from(timeout=5)
    assert (got["type"], got["message"]["seq"]) == ("message", 1)


async def test_deleted_messages_leave_no_stuck_gap(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    intercept(monkeypatch, lose=of_type("chat.messages"))
    await post(room, alice, "to be deleted")
    await database_sync_to_async(Message.objects.filter(seq=1).delete)()
    monkeypatch.undo()
    await post(room, alice, "after the deleted one")
    assert await next_messages(comm, 1) == [2]
    sync = (await realtime.current().start()).sync
    for _ in range(2):  # the sync acts on seqs committed at its previous run
        await sync.sync_once()
    assert await comm.receive_nothing(timeout=0.2)


async def test_overflowing_in_memory_layer_still_delivers_in_order(
    open_socket: Open, alice: User, room: Room
) -> None:
    from channels.layers import channel_layers

    tiny = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1}}
    }
    with override_settings(CHANNEL_LAYERS=tiny):
        channel_layers.backends.clear()
        try:
            comm, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
            await database_sync_to_async(_burst)(room, alice, 40)
            assert await next_messages(comm, 40) == list(range(1, 41))
        finally:
            channel_layers.backends.clear()


def _burst(room: Room, user: User, count: int) -> None:
    # Synchronous and back to back: the consumer cannot drain a capacity-1 channel in time.
    for n in range(count):
        services.message_post(room_id=room.pk, author=user, body=f"b{n}", client_id=f"b{n}")


async def test_a_message_event_from_a_process_of_the_previous_version_is_delivered(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    # During a rolling upgrade, processes not yet restarted publish one chat.message per
    # message on the room's group; the hub still hands those out, in seq order.
    from channels.layers import get_channel_layer

    comm, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    saved = await post_unpublished(
        monkeypatch, room_id=room.pk, author=alice, body="from an old process", client_id="old"
    )
    layer = get_channel_layer()
    assert layer is not None
    legacy = {"type": "chat.message", "room_id": room.pk, "seq": saved["seq"]}
    await layer.group_send(
        events.room_group(room.pk), {**legacy, "frame": events.message_frame(saved)}
    )
    got = await comm.receive_json_from(timeout=2)
    assert (got["type"], got["message"]["body"]) == ("message", "from an old process")
    await post(room, alice, "and a new one")
    assert await next_messages(comm, 1) == [2]


async def test_the_in_memory_layer_keeps_the_hub_in_its_groups_after_a_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels.layers import InMemoryChannelLayer

    from chatsite.settings import IN_MEMORY_LAYER

    layer = InMemoryChannelLayer(**IN_MEMORY_LAYER["CONFIG"])
    hub = await layer.new_channel(prefix="hub.")
    await layer.group_add(events.MESSAGES_GROUP, hub)
    later = time.time() + 2 * 86400  # two days up
    monkeypatch.setattr(time, "time", lambda: later)
    await layer.group_send(events.MESSAGES_GROUP, {"type": "chat.messages", "items": []})
    assert (await asyncio.wait_for(layer.receive(hub), 1))["type"] == "chat.messages"


def test_frames_are_json_the_client_can_parse() -> None:
    frame = json.loads(events.encode({"type": "x", "body": "ü <b>"}))
    assert frame == {"type": "x", "body": "ü <b>"}


async def test_concurrent_first_connections_share_one_hub_channel(
    open_socket: Open, alice: User, bob: User, room: Room, redis_url: str
) -> None:
    from channels.layers import channel_layers

    prefix = "test-hub-race"
    pubsub = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url}], "prefix": prefix},
        }
    }
    with override_settings(CHANNEL_LAYERS=pubsub):
        channel_layers.backends.clear()
        try:
            # Redis makes new_channel() yield, so the first connections interleave.
            comms = await asyncio.gather(
                *(open_socket(user, f"/ws/chat/{room.slug}/") for user in (alice, bob) * 3)
            )
            await asyncio.gather(*(comm.connect() for comm in comms))
            for comm in comms:
                assert (await comm.receive_json_from())["type"] == "hello"
            hub = await realtime.current().hub()
            groups = hub.layer._get_layer().groups
            assert groups[f"{prefix}__group__{events.CONTROL_GROUP}"] == {hub.channel}
            assert groups[f"{prefix}__group__{events.MESSAGES_GROUP}"] == {hub.channel}
            assert groups[f"{prefix}__group__{events.room_group(room.pk)}"] == {hub.channel}
            await post(room, alice, "to all six")
            for comm in comms:
                assert await next_messages(comm, 1) == [1]
            for comm in comms:
                await comm.disconnect()
        finally:
            channel_layers.backends.clear()


async def test_a_message_whose_write_failed_is_sent_again_before_the_next(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat.realtime.connection import Connection

    comm, _ = await joined(open_socket, alice, f"/ws/chat/{room.slug}/")
    real_send = Connection.send
    failed: list[str] = []

    async def fail_once(self: Connection, frame: str, wire_frame: bytes | None = None) -> None:
        if not failed and '"body":"lost in the write"' in frame:
            failed.append(frame)
            raise OSError("the write failed")
        await real_send(self, frame, wire_frame)

    monkeypatch.setattr(Connection, "send", fail_once)
    await post(room, alice, "lost in the write")
    await post(room, alice, "next")
    frames: list[tuple[int, str]] = []
    while len(frames) < 2:
        got = await comm.receive_json_from(timeout=5)
        if got["type"] == "message":
            frames.append((got["message"]["seq"], got["message"]["body"]))
    assert failed, "the write never failed: the test proves nothing"
    assert frames == [(1, "lost in the write"), (2, "next")]
