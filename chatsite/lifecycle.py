"""What `daphne chatsite.asgi:application` needs beyond stock daphne: a graceful stop,
the registered close codes, TCP_NODELAY on WebSocket connections, and the client frame
size limit (CHAT_MAX_FRAME_BYTES).

Stock daphne lets Twisted's SIGTERM handler stop the reactor at once: every WebSocket
drops without a close frame and daphne cancels consumers mid-save. Here SIGTERM first
closes every chat connection with 1012 (service restart) once the frame it is handling
is saved and answered, waits for the close handshakes (bounded), then stops the reactor.
"""

import asyncio
import logging
import signal
import sys
import weakref
from types import FrameType
from typing import Any

from django.conf import settings

from chat.wire import RAW_SEND_EXTENSION, RawSend

logger = logging.getLogger(__name__)


# Registered close codes a server may send that autobahn's sendClose() refuses (it only
# takes 1000 and 3000-4999 from applications); they go through its sendCloseFrame().
_SERVER_CLOSE_CODES = frozenset({1001, 1011, 1012, 1013})


def install_graceful_shutdown() -> None:
    """Patch daphne's WebSocket protocol and take over SIGTERM once its reactor runs.
    A no-op outside daphne."""
    if "daphne.server" not in sys.modules:
        return  # imported by tests, a management command or another server
    # The database thread (channels' database_sync_to_async) needs the GIL after every
    # query while the loop thread fans out; with the default 5 ms switch interval each
    # query waits up to 5 ms for it, and ten of them per message stall every save.
    sys.setswitchinterval(settings.CHAT_GIL_SWITCH_INTERVAL_SECONDS)
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    from twisted.internet import reactor

    send_close = WebSocketProtocol.serverClose

    def server_close(self: WebSocketProtocol, code: int | None = None) -> None:
        if code in _SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            send_close(self, code)

    connection_made = WebSocketProtocol.connectionMade

    def connection_made_no_delay(self: WebSocketProtocol) -> None:
        connection_made(self)
        # Small frames pushed to idle clients must leave at once: with Nagle's algorithm
        # a frame waits for the ACK of the previous one, which delayed ACKs hold ~40 ms.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)

    set_protocol_options = WebSocketFactory.setProtocolOptions

    def set_protocol_options_limited(
        self: WebSocketFactory, *args: object, **options: object
    ) -> None:
        # daphne passes its own sizes (1 MiB); ours replace them. autobahn then fails a
        # bigger frame or message from a client with 1009 before reading it whole, and
        # with failByDrop off it says so in a close frame instead of cutting the TCP.
        limit = settings.CHAT_MAX_FRAME_BYTES
        if limit > 0:
            options.update(maxFramePayloadSize=limit, maxMessagePayloadSize=limit, failByDrop=False)
        set_protocol_options(self, *args, **options)

    send_message = WebSocketProtocol.sendMessage

    def send_message_unlimited(self: WebSocketProtocol, *args: object, **kwargs: object) -> None:
        if self.state != self.STATE_OPEN:
            # The client's close frame arrived before daphne told the consumer: the frame
            # could not be delivered anyway (the client resumes with ?after=). autobahn
            # raises Disconnected here, which daphne does not expect.
            return
        # autobahn applies maxMessagePayloadSize to what the server sends as well; the
        # limit is for clients, and a hello with history is legitimately bigger.
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            send_message(self, *args, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit

    create_application = Server.create_application

    def create_application_with_raw_send(
        self: Server, protocol: object, scope: dict[str, Any]
    ) -> object:
        if scope.get("type") == "websocket":
            extensions = scope.setdefault("extensions", {})
            extensions[RAW_SEND_EXTENSION] = _raw_send(weakref.ref(protocol))
        return create_application(self, protocol, scope)

    Server.create_application = create_application_with_raw_send
    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol.connectionMade = connection_made_no_delay
    WebSocketFactory.setProtocolOptions = set_protocol_options_limited
    WebSocketProtocol.sendMessage = send_message_unlimited
    reactor.callWhenRunning(_take_over_sigterm)


def _raw_send(ref: "weakref.ref[Any]") -> RawSend:
    """A writer of whole pre-built frames (chat/wire.py) to one WebSocket.

    The fan-out writes one message to every socket of a room; through ASGI each write
    passes channels' session wrapper, daphne, autobahn's framing and logging, and
    Twisted's write buffer, which registers the socket with epoll and sends on the next
    loop turn. Here an open, idle plain-TCP socket gets the bytes with one send() now;
    anything else (TLS, a write already buffered, compression, a closing socket) goes
    through Twisted's buffer, and a socket that is not open refuses (returns False) so
    the caller takes the ASGI path, which knows what to do.
    """
    from twisted.internet.tcp import Connection

    def send(frame: bytes) -> bool:
        protocol = ref()
        if (
            protocol is None
            or protocol.state != protocol.STATE_OPEN
            or protocol.send_queue
            or protocol.websocket_extensions_in_use
        ):
            return False
        transport = protocol.transport
        idle = (
            isinstance(transport, Connection)
            and transport.connected
            and not transport.disconnecting
            and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
        )
        if idle:
            sent = transport.writeSomeData(frame)
            if isinstance(sent, int) and sent >= 0:
                if sent < len(frame):
                    transport.write(frame[sent:])  # the rest when the socket drains
                return True
        transport.write(frame)
        return True

    return send


def _take_over_sigterm() -> None:
    # Runs after Twisted installed its own handlers, so this one replaces its SIGTERM.
    from twisted.internet import reactor

    stopping = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:  # a second SIGTERM: stop now
            reactor.callFromThread(reactor.stop)  # type: ignore[misc]  # twisted stubs
            return
        stopping = True
        reactor.callFromThread(_stop_gracefully)

    signal.signal(signal.SIGTERM, on_sigterm)


def _stop_gracefully() -> None:
    from twisted.internet import defer, reactor

    from chat import delivery
    from chat.consumers import CLOSE_SERVICE_RESTART

    task = asyncio.ensure_future(
        delivery.current().close_all(CLOSE_SERVICE_RESTART, settings.CHAT_SHUTDOWN_TIMEOUT_SECONDS)
    )

    def done(result: object) -> None:
        logger.info("graceful shutdown: %s connections left open; stopping", result)
        reactor.stop()  # type: ignore[misc]  # twisted stubs

    defer.Deferred.fromFuture(task).addBoth(done)
