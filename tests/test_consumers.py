"""The WebSocket contract through channels' WebsocketCommunicator, on the real ASGI
application (origin check, session auth, routing) and both channel layers."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.contrib.auth.models import User
from django.test import override_settings

from chat import services
from chat.models import Message, Room
from chat.protocol.codes import CloseCode

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]


@pytest.fixture(params=["memory", "redis"])
def layer(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on the in-memory layer and on channels-redis against real Redis."""
    if request.param == "memory":
        yield "memory"
        return
    redis_url = request.getfixturevalue("redis_url")
    config = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url}], "prefix": "test-consumers"},
        }
    }
    with override_settings(CHANNEL_LAYERS=config):
        channel_layers.backends.clear()
        yield "redis"
    channel_layers.backends.clear()


async def joined(open_socket: Open, user: User | None, slug: str) -> Any:
    comm = await open_socket(user, f"/ws/chat/{slug}/")
    connected, _ = await comm.connect()
    assert connected
    return comm


async def send(comm: Any, frame: Any) -> None:
    await comm.send_to(text_data=json.dumps(frame))


async def ack_and_message(comm: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sender gets both; which comes first is not part of the contract."""
    frames = {}
    for _ in range(2):
        frame = await comm.receive_json_from(timeout=5)
        frames[frame["type"]] = frame
    assert set(frames) == {"ack", "message"}, frames
    return frames["ack"], frames["message"]


async def test_anonymous_connection_is_closed_with_4401(open_socket: Open, room: Room) -> None:
    comm = await joined(open_socket, None, room.slug)
    assert await comm.receive_output() == {
        "type": "websocket.close",
        "code": CloseCode.UNAUTHENTICATED,
    }


async def test_unknown_room_is_closed_with_4404(open_socket: Open, alice: User) -> None:
    comm = await joined(open_socket, alice, "no-such-room")
    assert await comm.receive_output() == {
        "type": "websocket.close",
        "code": CloseCode.ROOM_NOT_FOUND,
    }


async def test_foreign_origin_is_refused(open_socket: Open, alice: User, room: Room) -> None:
    comm = await open_socket(alice, f"/ws/chat/{room.slug}/", origin="http://evil.example")
    connected, _ = await comm.connect()
    assert not connected


async def test_hello_carries_room_user_and_last_50_messages(
    open_socket: Open, alice: User, room: Room
) -> None:
    for n in range(55):
        await database_sync_to_async(services.message_post)(
            room_id=room.pk, author=alice, body=f"m{n}", client_id=f"c{n}"
        )
    comm = await joined(open_socket, alice, room.slug)
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello"
    assert hello["room"] == {
        "id": room.pk,
        "slug": "general",
        "name": "General",
        "topic": "Anything goes",
    }
    assert hello["user"]["username"] == "alice"
    assert hello["user"]["display_name"] == "alice"  # no name chosen: the username
    assert hello["user"]["avatar"].startswith("/api/users/alice/avatar/?v=")
    assert [m["body"] for m in hello["history"]] == [f"m{n}" for n in range(5, 55)]
    assert hello["history"][0]["seq"] == 6


async def test_message_reaches_every_member_including_sender(
    layer: str, open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    a = await joined(open_socket, alice, room.slug)
    b = await joined(open_socket, bob, room.slug)
    await a.receive_json_from()
    await b.receive_json_from()
    await send(
        a, {"type": "message.send", "body": "<img src=x onerror=alert(1)>", "client_id": "c-1"}
    )
    ack, own = await ack_and_message(a)
    assert ack["client_id"] == "c-1"
    for frame in (own, await b.receive_json_from(timeout=5)):
        assert frame["type"] == "message"
        message = frame["message"]
        assert message["body"] == "<img src=x onerror=alert(1)>"
        assert (message["author"], message["room"], message["client_id"]) == (
            "alice",
            "general",
            "c-1",
        )
        assert message["id"] == ack["message"]["id"]
        assert message["created_at"].startswith("20")
    saved = await database_sync_to_async(Message.objects.get)(pk=ack["message"]["id"])
    assert saved.body == "<img src=x onerror=alert(1)>"


async def test_members_of_other_rooms_do_not_receive(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await database_sync_to_async(Room.objects.create)(slug="other", name="Other")
    a = await joined(open_socket, alice, room.slug)
    b = await joined(open_socket, bob, "other")
    await a.receive_json_from()
    await b.receive_json_from()
    await send(a, {"type": "message.send", "body": "only general", "client_id": "x"})
    await ack_and_message(a)
    assert await b.receive_nothing(timeout=0.3)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_json"),
        ('["message.send"]', "bad_frame"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"type": "message.send", "client_id": "a"}', "empty_body"),
        ('{"type": "message.send", "body": "   ", "client_id": "a"}', "empty_body"),
        (
            '{"type": "message.send", "body": "%s", "client_id": "a"}' % ("x" * 4001),
            "body_too_long",
        ),
        ('{"type": "message.send", "body": "hi", "client_id": ""}', "bad_client_id"),
    ],
)
async def test_bad_frame_gets_error_and_connection_stays_usable(
    open_socket: Open, alice: User, room: Room, raw: str, code: str
) -> None:
    comm = await joined(open_socket, alice, room.slug)
    await comm.receive_json_from()
    await comm.send_to(text_data=raw)
    error = await comm.receive_json_from()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["detail"]
    assert "Traceback" not in error["detail"]
    await send(comm, {"type": "message.send", "body": "still here", "client_id": "ok"})
    _, message = await ack_and_message(comm)
    assert message["message"]["body"] == "still here"
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_binary_frame_gets_error(open_socket: Open, alice: User, room: Room) -> None:
    comm = await joined(open_socket, alice, room.slug)
    await comm.receive_json_from()
    await comm.send_to(bytes_data=b"\x00\x01")
    error = await comm.receive_json_from()
    assert error["code"] == "binary_frame"


async def test_server_fault_is_reported_without_internals(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(
        "chat.database.group_commit.message_post_many", explode
    )  # the send's batch fails
    comm = await joined(open_socket, alice, room.slug)
    await comm.receive_json_from()
    await send(comm, {"type": "message.send", "body": "boom", "client_id": "b"})
    error = await comm.receive_json_from()
    assert error["code"] == "internal_error"
    assert "secret" not in json.dumps(error)
    monkeypatch.undo()
    await send(comm, {"type": "message.send", "body": "after", "client_id": "c"})
    await ack_and_message(comm)


async def test_echo_returns_frames_as_sent(open_socket: Open) -> None:
    comm = await open_socket(None, "/ws/echo/")
    connected, _ = await comm.connect()
    assert connected
    await comm.send_to(text_data='{"any": "thing"} ü')
    assert await comm.receive_from() == '{"any": "thing"} ü'
    await comm.send_to(bytes_data=b"\x00raw")
    assert (await comm.receive_output())["bytes"] == b"\x00raw"


@override_settings(CHAT_MAX_BODY_CHARS=5)
async def test_body_limit_setting_applies_to_websocket(
    open_socket: Open, alice: User, room: Room
) -> None:
    comm = await joined(open_socket, alice, room.slug)
    await comm.receive_json_from()
    await send(comm, {"type": "message.send", "body": "123456", "client_id": "a"})
    error = await comm.receive_json_from()
    assert (error["code"], error["client_id"]) == ("body_too_long", "a")
