"""The hub's hand-out of a batch event keeps each socket's frames and writes them with one
write per socket (chat/realtime/wire.py's `held`, the daphne writer's keeping in
chatsite/daphne_adapter/raw_send.py), without changing what each socket receives or
its order against frames sent another way."""

import weakref
from typing import Any

import pytest

from chat.realtime import wire
from chat.realtime.connection import Connection, State, Stream
from chat.realtime.hub import Hub, RoomOrder
from chat.realtime.registry import Registry
from chatsite.daphne_adapter import raw_send

ROOM = 1


class Transport:
    """Twisted's transport as the writer sees it (not a TCP connection: it buffers)."""

    def __init__(self, log: list[tuple[str, bytes]]) -> None:
        self.log = log

    def write(self, data: bytes) -> None:
        self.log.append(("raw", data))


class Protocol:
    STATE_OPEN = 3

    def __init__(self, log: list[tuple[str, bytes]]) -> None:
        self.state = self.STATE_OPEN
        self.send_queue: list[bytes] = []
        self.websocket_extensions_in_use: list[str] = []
        self.transport = Transport(log)
        self.log = log

    def sendData(self, data: bytes) -> None:  # autobahn's, behind its send_queue
        self.log.append(("queued", data))


class NotTcp:
    """Twisted's TCP connection class, which Transport is not."""


@pytest.fixture(autouse=True)
def daphne_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the raw_send patch installs at start."""
    monkeypatch.setattr(raw_send._HELD, "tcp_connection", NotTcp)
    monkeypatch.setattr(wire, "holder", raw_send._HELD)


async def connection(registry: Registry, log: list[tuple[str, bytes]]) -> tuple[Connection, Any]:
    protocol = Protocol(log)

    async def asgi_send(text: str) -> None:
        log.append(("asgi", text.encode()))

    async def asgi_close(code: int) -> None:
        log.append(("close", str(code).encode()))

    conn = Connection(asgi_send=asgi_send, asgi_close=asgi_close)
    conn.raw_send = raw_send._raw_send(weakref.ref(protocol), NotTcp)
    stream = Stream(ROOM, "room")
    conn.streams[ROOM] = stream
    await conn.start_stream(stream, 0)
    conn.state = State.OPEN
    registry.add(conn)
    registry.add_rooms(conn, [ROOM])
    return conn, protocol


def batch(*seqs: int) -> Any:
    return {"type": "chat.messages", "items": [[ROOM, seq, f"m{seq}"] for seq in seqs]}


async def hub_with(count: int) -> tuple[Hub, list[list[tuple[str, bytes]]], list[Any]]:
    registry = Registry()
    hub = Hub(layer=None, channel="hub.test", tracker=None, registry=registry)  # type: ignore[arg-type]
    hub.rooms[ROOM] = RoomOrder()
    hub.rooms[ROOM].order.start(0)
    logs: list[list[tuple[str, bytes]]] = [[] for _ in range(count)]
    kept = [await connection(registry, log) for log in logs]  # the writer's refs are weak
    return hub, logs, kept


async def test_a_batch_reaches_each_socket_in_one_write_in_seq_order() -> None:
    hub, logs, _kept = await hub_with(3)
    await hub.fan_out_many(batch(1, 2, 3))
    await hub.fan_out_many(batch(4))
    frames = b"".join(wire.text_frame(f"m{seq}") for seq in (1, 2, 3))
    for log in logs:
        assert log == [("raw", frames), ("raw", wire.text_frame("m4"))]
    assert raw_send._HELD.kept == {}
    assert raw_send._HELD.depth == 0


async def test_a_frame_sent_another_way_meanwhile_goes_after_the_kept_ones() -> None:
    hub, logs, kept = await hub_with(1)
    conn, protocol = kept[0]
    with wire.held():
        await hub.fan_out_many(batch(1, 2))
        protocol.send_queue.append(b"x")  # the writer refuses now: the frame takes ASGI
        await conn.send("own")
        assert logs[0][-1] == ("asgi", b"own")
        await conn.close(1000)
    assert logs[0] == [
        ("queued", wire.text_frame("m1") + wire.text_frame("m2")),
        ("asgi", b"own"),
        ("close", b"1000"),
    ]


async def test_frames_kept_for_a_socket_closed_meanwhile_are_dropped() -> None:
    hub, logs, kept = await hub_with(2)
    with wire.held():
        await hub.fan_out_many(batch(1, 2))
        kept[0][1].state = 4  # closing: its client resumes after its last seq
    assert logs[0] == []
    assert logs[1] == [("raw", wire.text_frame("m1") + wire.text_frame("m2"))]
