"""Patch: each WebSocket scope is offered a writer of pre-built frames (chat/realtime/wire.py) in
its extensions. Without it consumers send through plain ASGI. Applied from checks.install."""

import functools
import weakref
from collections import deque
from typing import Any

from chat.realtime import wire
from chat.realtime.wire import RAW_SEND_EXTENSION, RawSend
from chatsite.daphne_adapter.internals import Internals, Subject
from chatsite.daphne_adapter.needs import (
    AUTOBAHN,
    DAPHNE,
    TWISTED,
    Need,
    Patch,
    class_has,
    instance_has,
    takes,
)


def _apply(internals: Internals) -> None:
    server, tcp_connection = internals.server, internals.tcp_connection
    create_application = server.create_application

    @functools.wraps(create_application)
    def create_application_with_raw_send(self: Any, protocol: object, scope: dict[str, Any]) -> Any:
        if scope.get("type") == "websocket":
            extensions = scope.setdefault("extensions", {})
            extensions[RAW_SEND_EXTENSION] = _raw_send(weakref.ref(protocol), tcp_connection)
        return create_application(self, protocol, scope)

    server.create_application = create_application_with_raw_send
    _HELD.tcp_connection = tcp_connection
    wire.holder = _HELD


class _Held(wire.Holder):
    """The frames kept per socket while the hub hands out one event (chat/realtime/wire.py's
    `held`), written with one send() per socket when it ends."""

    def __init__(self) -> None:
        self.depth = 0
        self.tcp_connection: Any = None  # Twisted's TCP connection class (internals)
        self.kept: dict[int, tuple[Any, list[bytes]]] = {}  # id(protocol) -> its frames

    def hold(self) -> None:
        self.depth += 1

    def release(self) -> None:
        self.depth -= 1
        if self.depth <= 0:
            self.depth = 0
            self.flush()

    def flush(self) -> None:
        kept, self.kept = self.kept, {}
        for protocol, frames in kept.values():
            # A socket closed meanwhile drops them: its client resumes after its last seq.
            if protocol.state != protocol.STATE_OPEN:
                continue
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            if protocol.send_queue:
                protocol.sendData(data)  # behind what autobahn queued meanwhile
            else:
                _write(protocol, data, self.tcp_connection)


_HELD = _Held()


def _raw_send(ref: "weakref.ref[Any]", tcp_connection: Any) -> RawSend:
    """A writer of whole pre-built frames (chat/realtime/wire.py) to one WebSocket.

    The fan-out writes one message to every socket of a room; through ASGI each write
    passes channels' session wrapper, daphne, autobahn's framing and logging, and
    Twisted's write buffer, which registers the socket with epoll and sends on the next
    loop turn. Here an open, idle plain-TCP socket gets the bytes with one send() now;
    anything else (TLS, a write already buffered, compression, a closing socket) goes
    through Twisted's buffer, and a socket that is not open refuses (returns False) so
    the caller takes the ASGI path, which knows what to do. While the hub holds writes
    (chat/realtime/wire.py's `held`) the bytes are kept, and written per socket at once.
    """

    held = _HELD

    def send(frame: bytes) -> bool:
        protocol = ref()
        if (
            protocol is None
            or protocol.state != protocol.STATE_OPEN
            or protocol.send_queue
            or protocol.websocket_extensions_in_use
        ):
            return False
        if held.depth:
            entry = held.kept.get(id(protocol))
            if entry is None:
                held.kept[id(protocol)] = (protocol, [frame])
            else:
                entry[1].append(frame)
            return True
        _write(protocol, frame, tcp_connection)
        return True

    return send


def _write(protocol: Any, data: bytes, tcp_connection: Any) -> None:
    """One send() now on an idle plain-TCP socket, else through Twisted's buffer.

    The socket's own send, not Twisted's `writeSomeData`: that wraps it in a memoryview
    slice (for Windows' send limit) and a Python EINTR loop (Python retries EINTR itself
    since 3.5), ~2 µs of each delivery when a room of 1,000 is written to between two
    events (bench/deliver_cost.py --hub --gap-ms 200). What it does on an error is kept:
    nothing sent, the bytes go to Twisted's buffer, whose next write finds a lost
    connection and closes it."""
    transport = protocol.transport
    if (
        isinstance(transport, tcp_connection)
        and transport.connected
        and not transport.disconnecting
        and not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:  # EAGAIN, ENOBUFS: later; a reset or a broken pipe: Twisted's
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]  # the rest when the socket drains
    transport.write(data)


def _keeps_its_socket(subject: Subject) -> bool:
    """Twisted's TCP connection keeps the socket it was built on as `.socket` (the probe
    connection's is a stand-in: what matters is that the attribute is that object)."""
    probe = subject.connection
    return probe is not None and callable(getattr(getattr(probe, "socket", None), "fileno", None))


_KEEPS_ITS_SOCKET = Need("{tcp_connection}().socket", _keeps_its_socket)


PATCH = Patch(
    name="raw_send",
    check_id="chat.W105",
    fallback="consumers send every frame through plain ASGI (slower, same behaviour)",
    needs=(
        takes("server", "create_application", "protocol", "scope"),
        takes("protocol", "sendData", "data"),
        class_has("protocol", "STATE_OPEN", int),
        # Set on each connection by autobahn's handshake: only an instance shows them.
        instance_has("open_protocol", "protocol", "state", int),
        instance_has("open_protocol", "protocol", "send_queue", deque),
        instance_has("open_protocol", "protocol", "websocket_extensions_in_use", list),
        takes("tcp_connection", "write"),
        _KEEPS_ITS_SOCKET,
        instance_has("connection", "tcp_connection", "_tempDataLen", int),
        instance_has("connection", "tcp_connection", "dataBuffer", bytes),
        instance_has("connection", "tcp_connection", "offset", int),
        instance_has("connection", "tcp_connection", "connected", int),
        instance_has("connection", "tcp_connection", "disconnecting", int),
        DAPHNE,
        AUTOBAHN,
        TWISTED,
    ),
    apply=_apply,
)
