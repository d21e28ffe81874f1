"""Threads on /ws/chat/ (issue #24) through channels' communicator on the real ASGI
application: a reply's frames to every connection, hello's totals, the thread frames
and their answers, typing in a thread, and the errors."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from chat import services
from chat.models import Membership, Room

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]


@pytest.fixture(autouse=True)
def members(transactional_db: None, room: Room, alice: User, bob: User) -> Room:
    Room.objects.filter(is_default=True).exclude(pk=room.pk).delete()
    for user in (alice, bob):
        Membership.objects.get_or_create(room=room, user=user)
    return room


async def connect(open_socket: Open, user: User) -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, "/ws/chat/")
    connected, _ = await comm.connect()
    assert connected
    hello: dict[str, Any] = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello", hello
    return comm, hello


async def send(comm: Any, frame: dict[str, Any]) -> None:
    await comm.send_to(text_data=json.dumps(frame))


async def frames_until(comm: Any, kind: str, timeout: float = 5) -> list[dict[str, Any]]:
    """Frames received up to and including the first of `kind` (presence skipped)."""
    seen: list[dict[str, Any]] = []
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout=timeout, skip=("presence",))
        if frame["type"] == "presence":
            continue
        seen.append(frame)
        if frame["type"] == kind:
            return seen


async def post(room: Room, user: User, body: str, thread: int | None = None) -> dict[str, Any]:
    from chat.services.posting import SendRequest, message_post_one

    message: dict[str, Any] = await database_sync_to_async(message_post_one)(
        SendRequest(room.pk, user, body, f"{user.pk}-{body}", thread=thread)
    )
    return message


async def test_a_reply_reaches_every_connection_with_its_summary_and_counts(
    open_socket: Open, room: Room, alice: User, bob: User
) -> None:
    root = await post(room, alice, "root")
    alice_ws, hello = await connect(open_socket, alice)
    assert hello["threads"] == {"unread_threads": 0, "mentions": 0}
    bob_ws, _ = await connect(open_socket, bob)
    frame = {"type": "message.send", "room": room.slug, "body": "yes @alice", "client_id": "r1"}
    await send(bob_ws, {**frame, "thread": root["id"]})
    ack = (await frames_until(bob_ws, "ack"))[-1]
    assert ack["message"]["thread"] == root["id"] and ack["message"]["also_to_room"] is False
    got = await frames_until(alice_ws, "thread.state")
    kinds = [f["type"] for f in got]
    assert "message" in kinds and kinds.index("message") < kinds.index("thread.updated")
    message = next(f for f in got if f["type"] == "message")["message"]
    assert message["thread"] == root["id"]
    updated = next(f for f in got if f["type"] == "thread.updated")
    assert updated["summary"]["replies"] == 1 and updated["summary"]["participants"] == ["bob"]
    state = got[-1]
    assert (state["following"], state["unread"], state["mentions"]) == (True, 1, 1)
    assert state["threads"] == {"unread_threads": 1, "mentions": 1}
    # A new connection says so in hello.
    _, again = await connect(open_socket, alice)
    assert again["threads"] == {"unread_threads": 1, "mentions": 1}
    # Reading it: every connection of alice's gets the new state.
    await send(
        alice_ws,
        {"type": "thread.read", "room": room.slug, "root": root["id"], "seq": message["seq"]},
    )
    read = (await frames_until(alice_ws, "thread.state"))[-1]
    assert (read["unread"], read["last_read_seq"]) == (0, message["seq"])
    assert read["threads"] == {"unread_threads": 0, "mentions": 0}


async def test_thread_history_follow_and_the_threads_list(
    open_socket: Open, room: Room, alice: User, bob: User
) -> None:
    root = await post(room, alice, "root")
    replies = [await post(room, bob, f"reply {n}", thread=root["id"]) for n in range(3)]
    ws, _ = await connect(open_socket, alice)
    await send(
        ws,
        {"type": "history.fetch", "room": room.slug, "thread": root["id"], "before": 10**6,
         "limit": 2},
    )  # fmt: skip
    history = (await frames_until(ws, "history"))[-1]
    assert history["thread"] == root["id"] and history["root"]["id"] == root["id"]
    assert [m["body"] for m in history["messages"]] == ["reply 1", "reply 2"]
    await send(ws, {"type": "history.fetch", "room": room.slug, "before": 10**6, "limit": 50})
    timeline = (await frames_until(ws, "history"))[-1]
    assert [m["body"] for m in timeline["messages"]] == ["root"]
    assert timeline["messages"][0]["thread_summary"]["replies"] == 3
    await send(ws, {"type": "threads.fetch", "unread": True, "before": None, "limit": 10})
    page = (await frames_until(ws, "threads"))[-1]
    assert [i["root"]["id"] for i in page["items"]] == [root["id"]]
    assert page["items"][0]["unread"] == 3 and page["next"] is None
    await send(
        ws, {"type": "thread.follow", "room": room.slug, "root": root["id"], "following": False}
    )
    state = (await frames_until(ws, "thread.state"))[-1]
    assert state["following"] is False and state["threads"]["unread_threads"] == 0
    await send(ws, {"type": "threads.fetch", "unread": False, "before": None, "limit": 10})
    assert (await frames_until(ws, "threads"))[-1]["items"] == []
    assert replies[-1]["seq"] == root["seq"] + 3


async def test_bad_thread_and_bad_frames_are_answered(
    open_socket: Open, room: Room, alice: User
) -> None:
    root = await post(room, alice, "root")
    reply = await post(room, alice, "reply", thread=root["id"])
    ws, _ = await connect(open_socket, alice)
    send_frame = {"type": "message.send", "room": room.slug, "body": "x", "client_id": "c9"}
    await send(ws, {**send_frame, "thread": reply["id"]})
    error = (await frames_until(ws, "error"))[-1]
    assert (error["code"], error["client_id"]) == ("bad_thread", "c9")
    await send(ws, {**send_frame, "thread": "42"})
    assert (await frames_until(ws, "error"))[-1]["code"] == "bad_frame"
    await send(ws, {"type": "threads.fetch", "before": "not-a-cursor", "limit": 5})
    assert (await frames_until(ws, "error"))[-1]["code"] == "bad_cursor"
    await send(ws, {"type": "threads.fetch", "limit": 51})
    assert (await frames_until(ws, "error"))[-1]["code"] == "bad_frame"
    await send(ws, {"type": "thread.follow", "room": room.slug, "root": 10**9, "following": True})
    assert (await frames_until(ws, "error"))[-1]["code"] == "bad_thread"
    history = {"type": "history.fetch", "room": room.slug, "thread": reply["id"], "before": 9}
    await send(ws, history)
    assert (await frames_until(ws, "error"))[-1]["code"] == "bad_thread"


async def test_typing_in_a_thread_names_it(
    open_socket: Open, room: Room, alice: User, bob: User
) -> None:
    root = await post(room, alice, "root")
    alice_ws, _ = await connect(open_socket, alice)
    bob_ws, _ = await connect(open_socket, bob)
    await send(bob_ws, {"type": "typing", "room": room.slug, "thread": root["id"]})
    typing = (await frames_until(alice_ws, "typing"))[-1]
    assert (typing["user"], typing["thread"]) == ("bob", root["id"])
    await send(bob_ws, {"type": "typing", "room": room.slug})
    assert (await frames_until(alice_ws, "typing"))[-1]["thread"] is None


async def test_a_private_rooms_thread_state_reaches_only_those_who_can_read_it(
    open_socket: Open, alice: User, bob: User, make_user: Any
) -> None:
    carol = await database_sync_to_async(make_user)("carol")
    private = await database_sync_to_async(services.room_create)(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )
    root = await post(private, alice, "root")
    carol_ws, _ = await connect(open_socket, carol)
    await send(carol_ws, {"type": "thread.read", "room": "secret", "root": root["id"], "seq": 1})
    assert (await frames_until(carol_ws, "error"))[-1]["code"] == "forbidden"
    await send(
        carol_ws, {"type": "history.fetch", "room": "secret", "thread": root["id"], "before": 9}
    )
    assert (await frames_until(carol_ws, "error"))[-1]["code"] == "forbidden"
    assert bob is not None
