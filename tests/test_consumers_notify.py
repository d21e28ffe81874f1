"""Notification frames of the all-rooms endpoint (docs/protocol.md, "Notifications"):
notify.set and notify.pause reach every connection of the user, members.search feeds
the composer's completion, hello carries the levels and preferences, bad frames get
clear errors. Channels' WebsocketCommunicator on the real ASGI application."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from chat import services
from chat.models import Room

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]


@pytest.fixture(autouse=True)
def no_default_rooms(transactional_db: None) -> None:
    Room.objects.filter(is_default=True).delete()


async def connect(open_socket: Open, user: User) -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, "/ws/chat/")
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello", hello
    return comm, hello


async def next_of(comm: Any, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout=5)
        if frame["type"] not in ("presence", "typing"):
            assert frame["type"] == kind, frame
            return frame


async def send(comm: Any, frame: dict[str, Any]) -> None:
    await comm.send_to(text_data=json.dumps(frame))


@database_sync_to_async
def join(user: User, slug: str) -> None:
    services.room_join(user=user, slug=slug)


async def test_a_level_set_on_one_connection_reaches_the_other_and_the_next_hello(
    open_socket: Open, alice: User, room: Room
) -> None:
    await join(alice, room.slug)
    first, hello = await connect(open_socket, alice)
    assert hello["rooms"][0]["notify_level"] == ""
    assert hello["notify"] == {"paused_until": None, "email_missed": True, "thread_replies": True}
    second, _ = await connect(open_socket, alice)
    await send(first, {"type": "notify.set", "room": room.slug, "level": "nothing"})
    expected = {"type": "room.notify", "room": room.slug, "level": "nothing"}
    assert await next_of(first, "room.notify") == expected
    assert await next_of(second, "room.notify") == expected
    third, hello = await connect(open_socket, alice)
    assert hello["rooms"][0]["notify_level"] == "nothing"
    for comm in (first, second, third):
        await comm.disconnect()


async def test_do_not_disturb_reaches_every_connection_and_can_be_lifted(
    open_socket: Open, alice: User
) -> None:
    first, _ = await connect(open_socket, alice)
    second, _ = await connect(open_socket, alice)
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    await send(first, {"type": "notify.pause", "until": until.isoformat()})
    for comm in (first, second):
        frame = await next_of(comm, "notify.prefs")
        assert datetime.fromisoformat(frame["paused_until"]) == until
    await send(second, {"type": "notify.pause", "until": None})
    for comm in (first, second):
        assert (await next_of(comm, "notify.prefs"))["paused_until"] is None
    await first.disconnect()
    await second.disconnect()


async def test_member_search_lists_members_of_a_readable_room_only(
    open_socket: Open, alice: User, bob: User, make_user: Callable[..., User], room: Room
) -> None:
    await join(alice, room.slug)
    await join(bob, room.slug)
    secret = await database_sync_to_async(Room.objects.create)(
        slug="secret", name="Secret", is_private=True
    )
    comm, _ = await connect(open_socket, alice)
    await send(comm, {"type": "members.search", "room": room.slug, "prefix": "B"})
    found = await next_of(comm, "members")
    assert found["room"] == room.slug
    assert found["prefix"] == "B"
    assert [m["username"] for m in found["members"]] == ["bob"]
    assert set(found["members"][0]) == {"username", "display_name", "avatar", "author_bot"}
    await send(comm, {"type": "members.search", "room": secret.slug, "prefix": ""})
    error = await next_of(comm, "error")
    assert error["code"] == "forbidden"
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "notify.set", "room": "general", "level": "loud"}, "bad_frame"),
        ({"type": "notify.set", "level": "all"}, "bad_frame"),
        ({"type": "notify.set", "room": "nowhere", "level": "all"}, "room_not_found"),
        ({"type": "notify.pause", "until": "tomorrow"}, "bad_frame"),
        ({"type": "notify.pause", "until": "2030-01-01T00:00:00"}, "bad_frame"),  # no offset
        ({"type": "notify.pause", "until": "2099-01-01T00:00:00+00:00"}, "bad_frame"),
        ({"type": "members.search", "room": "general", "prefix": 5}, "bad_frame"),
        ({"type": "members.search", "room": "general", "prefix": "x" * 151}, "bad_frame"),
    ],
)
async def test_bad_notification_frames_get_a_clear_error_and_keep_the_socket(
    open_socket: Open, alice: User, room: Room, frame: dict[str, Any], code: str
) -> None:
    comm, _ = await connect(open_socket, alice)
    await send(comm, frame)
    assert (await next_of(comm, "error"))["code"] == code
    await send(comm, {"type": "notify.pause", "until": None})
    assert (await next_of(comm, "notify.prefs"))["paused_until"] is None  # still open
    await comm.disconnect()


async def test_a_level_for_a_room_not_joined_is_refused(
    open_socket: Open, alice: User, room: Room
) -> None:
    comm, _ = await connect(open_socket, alice)
    await send(comm, {"type": "notify.set", "room": room.slug, "level": "all"})
    assert (await next_of(comm, "error"))["code"] == "not_joined"
    await comm.disconnect()
