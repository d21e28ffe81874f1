"""Faults on the real path of a socket's send: the frame goes through the process's group
commit (chat/database/group_commit.py), the one write path (services/posting.py) and the
one publish verb (events/publish.py). A failed publish loses nothing acknowledged (the
receivers read it from the database); a failed commit acknowledges nothing, and the
client's resend is saved once. The multi-process faults (SIGKILL, SIGTERM, a Redis
restart, a stalled process) drive the same path through real daphne processes in
tests/test_delivery_faults.py."""

import logging
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.db import OperationalError
from django.test import override_settings

from chat import events
from chat.models import Message, Room
from chat.services import posting, seqs

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]


async def opened(open_socket: Open, user: User, room: Room) -> Any:
    comm = await open_socket(user, f"/ws/chat/{room.slug}/")
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from())["type"] == "hello"
    return comm


async def answer_to(comm: Any, body: str, client_id: str) -> dict[str, Any]:
    """Send over the socket; the ack or error that answers it (other frames skipped)."""
    await comm.send_json_to({"type": "message.send", "body": body, "client_id": client_id})
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout=5)
        if frame["type"] in ("ack", "error") and frame.get("client_id") == client_id:
            return frame


async def messages(comm: Any, count: int) -> list[tuple[int, str]]:
    got: list[tuple[int, str]] = []
    while len(got) < count:
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] == "message":
            got.append((frame["message"]["seq"], frame["message"]["body"]))
    return got


@override_settings(CHAT_SYNC_INTERVAL_SECONDS=0.1)
async def test_a_send_whose_publish_fails_is_acknowledged_and_still_delivered(
    open_socket: Open,
    alice: User,
    bob: User,
    room: Room,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender, receiver = await opened(open_socket, alice, room), await opened(open_socket, bob, room)
    layer = get_channel_layer()
    assert layer is not None
    real_send = layer.group_send

    async def failing(group: str, message: dict[str, Any]) -> None:
        if group == events.MESSAGES_GROUP:  # the layer (Redis) refuses the batch's event
            raise ConnectionError("layer down")
        await real_send(group, message)

    monkeypatch.setattr(layer, "group_send", failing)
    logger = logging.getLogger("chat.events")  # settings' LOGGING: it does not propagate
    logger.addHandler(caplog.handler)
    try:
        ack = await answer_to(sender, "saved, not published", "p1")
    finally:
        logger.removeHandler(caplog.handler)
    assert ack["type"] == "ack"
    assert "message publish failed (ConnectionError: layer down)" in caplog.text
    # The periodic sync reads it from the database for every connection.
    assert await messages(receiver, 1) == [(ack["message"]["seq"], "saved, not published")]
    assert await messages(sender, 1) == [(ack["message"]["seq"], "saved, not published")]


async def test_a_send_whose_commit_fails_is_not_acknowledged_and_its_resend_is_saved_once(
    open_socket: Open, alice: User, bob: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender, receiver = await opened(open_socket, alice, room), await opened(open_socket, bob, room)
    taking = seqs.room_seq_blocks

    def taken_then_failed(counts: dict[int, int]) -> Any:
        taking(counts)  # the seqs are taken and the rows locked, then the commit fails
        raise OperationalError("could not commit")

    with monkeypatch.context() as failing:
        failing.setattr(posting, "room_seq_blocks", taken_then_failed)
        refused = await answer_to(sender, "first try", "c1")
    assert (refused["type"], refused["code"]) == ("error", "unavailable")  # retryable
    assert await database_sync_to_async(Message.objects.count)() == 0
    assert await receiver.receive_nothing(timeout=0.2)
    ack = await answer_to(sender, "first try", "c1")  # the page resends what was not acked
    assert (ack["type"], ack["message"]["seq"]) == ("ack", 1)
    assert (await answer_to(sender, "first try", "c1"))["message"] == ack["message"]
    assert await messages(receiver, 1) == [(1, "first try")]
    assert await receiver.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(Message.objects.count)() == 1
