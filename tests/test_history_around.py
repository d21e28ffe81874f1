"""history.fetch with "around" (a search result in context) and "after" (reading forward
from there to the present): the frames parsed, then answered over /ws/chat/."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User

from chat import services
from chat.errors import ChatError
from chat.models import Room
from chat.protocol.parsing import FetchHistory, parse_frame

Open = Callable[..., Any]


@pytest.mark.parametrize(
    ("frame", "command"),
    [
        ({"before": 9}, FetchHistory(before=9, limit=50, room="r")),
        ({"around": 9, "limit": 10}, FetchHistory(before=None, limit=10, room="r", around=9)),
        ({"after": 0}, FetchHistory(before=None, limit=50, room="r", after=0)),
    ],
)
def test_fetch_takes_one_of_before_after_around(
    frame: dict[str, Any], command: FetchHistory
) -> None:
    text = json.dumps({"type": "history.fetch", "room": "r", **frame})
    assert parse_frame(text, all_rooms=True) == command


@pytest.mark.parametrize(
    "frame",
    [
        {},
        {"before": 9, "around": 3},
        {"after": 1, "around": 3},
        {"around": 0},
        {"around": True},
        {"after": -1},
        {"around": "5"},
        {"around": 5, "limit": 101},
    ],
)
def test_bad_fetches_are_bad_frames(frame: dict[str, Any]) -> None:
    with pytest.raises(ChatError) as caught:
        parse_frame(json.dumps({"type": "history.fetch", "room": "r", **frame}), all_rooms=True)
    assert caught.value.code == "bad_frame"


async def _post_many(room: Room, user: User, count: int) -> None:
    def run() -> None:
        for n in range(1, count + 1):
            services.message_post(room_id=room.pk, author=user, body=f"m{n}", client_id=f"c{n}")

    await database_sync_to_async(run)()


async def _connect(open_socket: Open, user: User) -> Any:
    comm = await open_socket(user, "/ws/chat/")
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
    return comm


async def _answer(comm: Any, frame: dict[str, Any]) -> dict[str, Any]:
    await comm.send_to(text_data=json.dumps(frame))
    while True:
        got: dict[str, Any] = await comm.receive_json_from(timeout=5)
        if got["type"] not in ("presence", "typing", "message"):
            return got


@pytest.mark.django_db(transaction=True)
async def test_history_around_then_forward_to_the_present(
    open_socket: Open, alice: User, room: Room
) -> None:
    await _post_many(room, alice, 40)
    comm = await _connect(open_socket, alice)
    page = await _answer(
        comm, {"type": "history.fetch", "room": "general", "around": 12, "limit": 10}
    )
    assert page["type"] == "history"
    assert page["around"] == 12
    assert page["room"] == "general"
    assert [m["seq"] for m in page["messages"]] == list(range(8, 18))
    forward = await _answer(
        comm, {"type": "history.fetch", "room": "general", "after": 17, "limit": 100}
    )
    assert forward["after"] == 17
    assert [m["seq"] for m in forward["messages"]] == list(range(18, 41))
    older = await _answer(comm, {"type": "history.fetch", "room": "general", "before": 8})
    assert [m["seq"] for m in older["messages"]] == list(range(1, 8))
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_history_around_in_a_private_room_needs_membership(
    open_socket: Open, alice: User, bob: User
) -> None:
    secret = await database_sync_to_async(services.room_create)(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )
    await _post_many(secret, alice, 3)
    comm = await _connect(open_socket, bob)
    error = await _answer(comm, {"type": "history.fetch", "room": "secret", "around": 2})
    assert error["type"] == "error"
    assert error["code"] == "forbidden"
    await comm.disconnect()
