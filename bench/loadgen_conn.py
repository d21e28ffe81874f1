"""One emulated client socket: a picows listener that opens with the page's handshake, hands
each text frame to its worker's Receiver and a drop to its Reconnector. It keeps no tally."""

import asyncio
import time
from array import array
from typing import TYPE_CHECKING

import picows

from bench.loadgen_specs import ClientSpec

if TYPE_CHECKING:
    from bench.loadgen_worker import Worker

READ_BUFFER_BYTES = 4096  # picows' initial per-connection read buffer (grows on demand)


class Conn(picows.WSListener):
    """One client connection: its transport and what it has received."""

    def __init__(self, worker: "Worker", spec: ClientSpec) -> None:
        super().__init__()
        self.worker = worker
        self.receiver = worker.receiver  # one lookup per frame, as before the split
        self.spec = spec
        self.transport: picows.WSTransport | None = None
        self.hello: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.hello_bytes = 0
        self.hello_rooms = 0
        self.last_seq: dict[bytes, int] = {}  # room slug (b"" if unnamed) -> highest seq
        self.seen: dict[int, set[int]] = {}  # sender -> n received in this phase
        self.last_n: dict[int, int] = {}  # sender -> highest n received in this phase
        self.received = 0  # unique deliveries in this phase
        self.expected = 0
        self.close_code: int | None = None
        self.close_reason = b""
        self.disconnected = False
        self.lat_us: array[int] = array("q")  # this phase's array for this conn's server
        self.unacked: dict[bytes, bytes] = {}  # client_id -> frame, until its ack
        self.reconnecting = False
        self.resumes = 0  # successful reconnects (the next hello is a resumed one)
        self.home = 0  # index of its server in Reconnect.servers
        # all-rooms connections name the room they send to
        self.room_field = b'"room":"%s",' % spec.room.encode() if spec.rooms else b""

    async def open(self, url: str, origin: str, timeout_s: float) -> None:
        """Handshake as the page does (Origin, the session cookie) and wait for the first
        frame, ``hello``. Raises on a refusal, a close or a timeout; the caller cleans up."""
        headers = {"Origin": origin}
        if self.spec.cookie:
            headers["Cookie"] = self.spec.cookie
        await picows.ws_connect(
            lambda: self,
            url,
            extra_headers=headers,
            websocket_handshake_timeout=timeout_s,
            read_buffer_init_size=READ_BUFFER_BYTES,
            max_redirects=0,
        )
        await asyncio.wait_for(self.hello, timeout_s)

    def retrieve_hello_error(self) -> None:
        """After a failed open: mark the hello's exception retrieved (no "never retrieved"
        warning at exit)."""
        if self.hello.done() and not self.hello.cancelled():
            self.hello.exception()

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == picows.WSMsgType.TEXT:
            self.receiver.on_text(self, frame.get_payload_as_bytes(), time.monotonic_ns())
        elif kind == picows.WSMsgType.CLOSE:
            self.close_code = frame.get_close_code().value
            self.close_reason = frame.get_close_message() or b""
            if not self.hello.done():
                self.hello.set_exception(ConnectionError(f"closed with {self.close_code}"))
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.disconnected = True
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("disconnected before hello"))
        worker = self.worker
        if not worker.closing:
            worker.unexpected_disconnects += 1
            if worker.reconnector.plan is not None and not self.reconnecting:
                worker.reconnector.start(self)
