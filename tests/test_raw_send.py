"""The daphne writer's direct write (chatsite/daphne_adapter/raw_send.py `_write`) on a
real socket: an idle socket gets the frame with one send(), whatever the kernel does not
take goes to Twisted's buffer behind it, and a dead peer costs no exception."""

import socket
from collections.abc import Iterator

import pytest

from chatsite.daphne_adapter import raw_send


class TcpConnection:
    """Twisted's tcp.Connection as the writer reads it, over a real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        self.connected = 1
        self.disconnecting = 0
        self._tempDataLen = 0
        self.dataBuffer = b""
        self.offset = 0
        self.buffered: list[bytes] = []  # what went through Twisted's write()

    def write(self, data: bytes) -> None:
        self.buffered.append(bytes(data))


class Protocol:
    def __init__(self, transport: TcpConnection) -> None:
        self.transport = transport


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    server.setblocking(False)
    client.setblocking(False)
    yield server, client
    server.close()
    client.close()


def received(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


def test_an_idle_socket_gets_the_frame_at_once(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    transport = TcpConnection(server)
    raw_send._write(Protocol(transport), b"\x81\x05hello", TcpConnection)
    assert received(client) == b"\x81\x05hello"
    assert transport.buffered == []


def test_what_the_kernel_does_not_take_follows_in_twisteds_buffer(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    transport = TcpConnection(server)
    big = bytes(range(256)) * 40_000  # far more than a socket buffer holds
    raw_send._write(Protocol(transport), big, TcpConnection)
    sent = received(client)
    assert 0 < len(sent) < len(big)
    assert sent + b"".join(transport.buffered) == big  # in order, nothing lost or doubled


def test_a_full_socket_leaves_the_whole_frame_to_twisted(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, _client = pair
    try:
        while server.send(b"x" * 65536):
            pass
    except BlockingIOError:
        pass
    transport = TcpConnection(server)
    raw_send._write(Protocol(transport), b"\x81\x02hi", TcpConnection)
    assert transport.buffered == [b"\x81\x02hi"]


def test_a_dead_peer_raises_nothing_and_the_frame_goes_to_twisted(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    client.close()
    transport = TcpConnection(server)
    raw_send._write(Protocol(transport), b"\x81\x02hi", TcpConnection)  # EPIPE inside
    assert transport.buffered == [b"\x81\x02hi"]  # Twisted's next write sees the loss


def test_a_socket_with_bytes_already_buffered_writes_behind_them(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    transport = TcpConnection(server)
    transport.dataBuffer = b"earlier"  # Twisted has bytes waiting for this socket
    raw_send._write(Protocol(transport), b"\x81\x02hi", TcpConnection)
    assert received(client) == b""
    assert transport.buffered == [b"\x81\x02hi"]
