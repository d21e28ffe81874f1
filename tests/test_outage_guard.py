"""Connects while a backing service is away: a database failure at the handshake refuses
it quietly (chat/consumers/outage_guard.py), and a presence store failure on join lets
the connect go on and the refresh add the user afterwards (chat/realtime/hub.py)."""

import logging
import uuid
from typing import Any

import pytest
from django.db import OperationalError

from chat.consumers.outage_guard import OutageGuard
from chat.presence.stores import RedisStore
from chat.presence.tracker import Presence
from chat.protocol.codes import CloseCode
from chat.realtime.connection import Connection
from chat.realtime.hub import Hub
from chat.realtime.registry import Registry


async def _never(message: Any) -> None:
    raise AssertionError("nothing is sent on this connection")


class _Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


async def test_a_database_outage_at_the_handshake_refuses_it_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def session_lookup_fails(scope: Any, receive: Any, send: Any) -> None:
        raise OperationalError("connection refused")

    guard = OutageGuard(session_lookup_fails)
    sent = _Sent()
    with caplog.at_level(logging.WARNING, logger="chat.consumers.outage_guard"):
        for _ in range(3):
            await guard({"type": "websocket"}, None, sent)
    assert sent.messages == [{"type": "websocket.close", "code": CloseCode.INTERNAL_ERROR}] * 3
    outage_lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outage_lines) == 1  # once per outage, not per attempt
    assert not any(r.exc_info for r in caplog.records)


async def test_other_errors_at_the_handshake_still_propagate() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await OutageGuard(broken)({"type": "websocket"}, None, _never)


class _DownStore(RedisStore):
    """The real Redis store, its Redis away for arrivals and reads until `down` is off
    (as between a primary's death and a replica's promotion)."""

    down = True

    async def arrive_many(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise ConnectionError("no primary")
        return await super().arrive_many(*args, **kwargs)

    async def online(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise ConnectionError("no primary")
        return await super().online(*args, **kwargs)


class _Layer:
    async def group_add(self, group: str, channel: str) -> None:
        return None


async def test_a_join_while_presence_is_away_goes_on_and_the_refresh_adds_the_user(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    store = _DownStore(redis_url, f"test-{uuid.uuid4().hex[:8]}")
    hub = Hub(layer=_Layer(), channel="hub.x", tracker=Presence(store), registry=Registry())

    async def last_seqs(room_ids: list[int]) -> dict[int, int]:
        return dict.fromkeys(room_ids, 0)

    monkeypatch.setattr("chat.realtime.reads.last_seqs", last_seqs)
    conn = Connection(asgi_send=_never, asgi_close=_never)
    conn.user_id, conn.username = 7, "alice"
    await hub.join(conn, [1], online={1: "general"})
    assert conn.online == {1}
    assert await hub.online(1, 10) == ([], 0)  # hello goes out without the names
    store.down = False
    await hub.presence.maintain()  # the periodic refresh
    assert await hub.online(1, 10) == (["alice"], 1)
    await store.redis.aclose()
