"""CPU per delivery of the hub's hand-out to local connections, without sockets: the
part of the fan-out that is the project's own Python (seq order, locks, the write
call), measured on one tree's code so two trees can be compared.

    PYTHONPATH=<tree> DJANGO_SECRET_KEY=x python -m bench.deliver_cost [--conns 200]

It builds `--conns` consumer objects of the tree's ChatConsumer in the state they
are in after their hello (one room stream, started at seq 0), with a raw-send stub that
accepts every frame (what daphne's write costs is not measured), and hands them
`--messages` message events through the code path the hub uses for each event: one
`wire.text_frame` per event, then `deliver` on every connection. Prints µs per
delivery (median of `--repeat` rounds). Works on the per-room hub of commit eb3affe
(chat/delivery.py, `deliver(seq, frame, wire)`) and on chat/realtime
(`deliver(room_id, seq, frame, wire)`).

`--hub` (chat/realtime only) goes the whole way a `chat.messages` event goes in a
server instead: the tree's `Hub.fan_out_many` with `--batch` messages per event, each
connection registered in the room, and the write through the tree's own daphne writer
(chatsite/daphne_adapter/raw_send.py) to a real loopback TCP socket per connection
(a stand-in for daphne's protocol and Twisted's transport around it, whose
`writeSomeData` is the socket's send()). The kernel's send is then in the figure (it
is most of a delivery's CPU); the receiving ends are drained outside the timing.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

import django
from twisted.internet import tcp

ROOM_ID = 1
FRAME = json.dumps(
    {
        "type": "message",
        "room": "r-fanout-0",
        "message": {
            "id": 1,
            "room": "r-fanout-0",
            "seq": 1,
            "author": "bench00001",
            "body": "fan:1:1:1234567890123",
            "created_at": "2026-11-29T20:00:00.000000+00:00",
            "client_id": "fan-1-1",
            "edited_at": None,
            "kind": "user",
            "attachment": None,
            "mentions": [],
        },
    },
    separators=(",", ":"),
)


def build(count: int, rooms_per_conn: int = 1) -> tuple[list[Any], Any]:
    """`count` consumers after their hello, and the deliver call of the tree's hub.
    With rooms_per_conn > 1 (chat/realtime only) each carries that many room streams,
    as an all-rooms connection does; the events are for the first."""
    from chat import consumers

    written = [0]

    def raw_send(data: bytes) -> bool:
        written[0] += 1
        return True

    conns = []
    # Not `import chat.realtime`: the venv's editable install would find this tree's
    # package for an older tree that has none.
    if "chat.realtime.connection" not in sys.modules:  # the per-room hub (chat/delivery.py)
        if rooms_per_conn != 1:
            raise SystemExit("--rooms-per-conn needs chat/realtime (all-rooms connections)")
        for _ in range(count):
            conn = consumers.ChatConsumer()
            conn._early = None  # hello sent
            conn.last_seq = 0
            conn._raw_send = raw_send
            conns.append(conn)

        async def deliver(conn: Any, seq: int, frame: str, wire_frame: bytes) -> None:
            await conn.deliver(seq, frame, wire_frame)

        return conns, deliver

    from chat.realtime.connection import State, Stream

    async def start(conn: Any) -> None:
        for room_id in range(ROOM_ID, ROOM_ID + rooms_per_conn):
            stream = Stream(room_id, f"r-fanout-{room_id}")
            conn.streams[room_id] = stream
            await conn.start_stream(stream, 0)
        conn.all_rooms = rooms_per_conn > 1
        conn.state = State.OPEN

    async def make() -> Any:
        # Built inside the loop, as channels does (the consumer binds the loop's runtime).
        consumer = consumers.ChatConsumer()
        # Since the consumer owns its realtime Connection (#22) the hub delivers to that;
        # before, the consumer was the connection.
        conn: Any = getattr(consumer, "conn", consumer)
        conn.raw_send = raw_send
        await start(conn)
        return conn

    for _ in range(count):
        conns.append(asyncio.get_event_loop().run_until_complete(make()))

    async def deliver_new(conn: Any, seq: int, frame: str, wire_frame: bytes) -> None:
        await conn.deliver(ROOM_ID, seq, frame, wire_frame)

    return conns, deliver_new


class _Transport:
    """What the raw writer reads of Twisted's tcp.Connection, over a real socket; its
    `writeSomeData` is Twisted's own (a memoryview slice and an EINTR loop around the
    send), so a tree whose writer calls it pays what it pays in daphne."""

    SEND_LIMIT = tcp.Connection.SEND_LIMIT
    writeSomeData = tcp.Connection.writeSomeData

    def __init__(self, sock: Any) -> None:
        self.socket = sock
        self.connected = 1
        self.disconnecting = 0
        self._tempDataLen = 0
        self.dataBuffer = b""
        self.offset = 0

    def write(self, data: bytes) -> None:
        raise SystemExit("socket buffer full: drain more often (fewer --messages)")


class _Protocol:
    """What the raw writer reads of autobahn's protocol."""

    STATE_OPEN = 3

    def __init__(self, transport: _Transport) -> None:
        self.state = self.STATE_OPEN
        self.send_queue: Any = ()
        self.websocket_extensions_in_use: list[str] = []
        self.transport = transport


class _NullSocket:
    """A socket whose send is a C builtin that takes everything (`len`): with it the
    figure is the Python of the hand-out and the writer alone, without the kernel."""

    send = staticmethod(len)


def build_hub(count: int, null_socket: bool = False) -> tuple[Any, list[Any], list[Any]]:
    """A hub with `count` connections in ROOM_ID, each writing through the tree's raw
    writer to its own loopback socket; the hub, the connections and the client ends."""
    import socket
    import weakref

    from chat.realtime import wire
    from chat.realtime.connection import Connection, State, Stream
    from chat.realtime.hub import Hub, RoomOrder
    from chat.realtime.registry import Registry
    from chatsite.daphne_adapter import raw_send

    held = getattr(raw_send, "_HELD", None)  # what _apply installs, in trees that hold
    if held is not None:
        held.tcp_connection = _Transport
        wire.holder = held  # type: ignore[attr-defined]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(count)
    registry = Registry()
    hub = Hub(layer=None, channel="hub.bench", tracker=None, registry=registry)  # type: ignore[arg-type]
    keep: list[Any] = []
    clients = []

    async def asgi(*args: Any) -> None:
        raise SystemExit("a frame took the ASGI path")

    async def make(n: int) -> Any:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        server.setblocking(False)
        client.setblocking(False)
        clients.append(client)
        protocol = _Protocol(_Transport(_NullSocket() if null_socket else server))
        keep.append(protocol)  # the writer holds a weak reference, as to daphne's
        conn = Connection(asgi_send=asgi, asgi_close=asgi)
        conn.user_id, conn.username = n + 1, f"u{n}"
        conn.raw_send = raw_send._raw_send(weakref.ref(protocol), _Transport)
        stream = Stream(ROOM_ID, "r-fanout-1")
        conn.streams[ROOM_ID] = stream
        await conn.start_stream(stream, 0)
        conn.state = State.OPEN
        registry.add(conn)
        registry.add_rooms(conn, [ROOM_ID])
        return conn

    loop = asyncio.get_event_loop()
    conns = [loop.run_until_complete(make(n)) for n in range(count)]
    room = hub.rooms[ROOM_ID] = RoomOrder()
    room.order.start(0)
    hub._keep = keep  # type: ignore[attr-defined]
    return hub, conns, clients


async def hub_round(
    hub: Any, clients: list[Any], first_seq: int, messages: int, batch: int, gap: float = 0.0
) -> float:
    spent = 0.0
    for start in range(first_seq, first_seq + messages, batch):
        event = {
            "type": "chat.messages",
            "items": [[ROOM_ID, seq, FRAME] for seq in range(start, start + batch)],
        }
        started = time.process_time()
        await hub.fan_out_many(event)
        spent += time.process_time() - started
        for client in clients:  # not timed: the client's side
            try:
                while client.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
        if gap:
            # Events apart, as in a server (bigroom: 5 a second): what the hand-out
            # touches is no longer in the CPU's caches when the next one comes.
            await asyncio.sleep(gap)
    return spent


async def one_round(conns: list[Any], deliver: Any, first_seq: int, messages: int) -> float:
    from chat.realtime import wire

    started = time.process_time()
    for seq in range(first_seq, first_seq + messages):
        wire_frame = wire.text_frame(FRAME)  # once per event, as the hub does
        for conn in conns:
            await deliver(conn, seq, FRAME, wire_frame)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conns", type=int, default=200)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rooms-per-conn", type=int, default=1)
    parser.add_argument(
        "--hub", action="store_true", help="through Hub.fan_out_many to loopback sockets"
    )
    parser.add_argument("--batch", type=int, default=1, help="messages per event (--hub)")
    parser.add_argument(
        "--null-socket",
        action="store_true",
        help="--hub with a send() that is a C builtin: the Python of the hand-out alone",
    )
    parser.add_argument(
        "--gap-ms", type=float, default=0.0, help="pause between events (--hub; bigroom: 200)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    django.setup()
    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = asyncio.get_event_loop()
    rounds = []
    seq = 1
    if args.hub:
        hub, _, clients = build_hub(args.conns, args.null_socket)
        for _ in range(args.repeat + 1):  # the first round warms up
            seconds = loop.run_until_complete(
                hub_round(hub, clients, seq, args.messages, args.batch, args.gap_ms / 1000)
            )
            rounds.append(1e6 * seconds / (args.messages * args.conns))
            seq += args.messages
    else:
        conns, deliver = build(args.conns, args.rooms_per_conn)
        for _ in range(args.repeat + 1):  # the first round warms up
            seconds = loop.run_until_complete(one_round(conns, deliver, seq, args.messages))
            rounds.append(1e6 * seconds / (args.messages * args.conns))
            seq += args.messages
    per_delivery = statistics.median(rounds[1:])
    print(
        json.dumps(
            {
                "us_per_delivery_median": round(per_delivery, 3),
                "rounds_us": [round(r, 3) for r in rounds[1:]],
                "conns": args.conns,
                "messages": args.messages,
                "rooms_per_conn": args.rooms_per_conn,
                "hub_and_sockets": args.hub,
                "batch": args.batch if args.hub else None,
                "realtime_package": "chat.realtime" in sys.modules,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
