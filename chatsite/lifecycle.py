"""The one adapter for what `daphne chatsite.asgi:application` needs beyond stock daphne,
and the only module that reaches into daphne's, autobahn's and Twisted's internals:
a graceful stop on SIGTERM, the registered close codes, TCP_NODELAY, the client frame
size limit (CHAT_MAX_FRAME_BYTES), sends after a client's close, and the raw writer of
pre-built frames (chat/realtime/wire.py).

None of these internals is a public API. At start `check()` verifies that every one a
patch relies on is there with the expected shape; a patch whose internals are missing
is not applied, and ONE warning names everything missing. Without the raw writer,
consumers send every frame through plain ASGI (slower, same behaviour).

Stock daphne lets Twisted's SIGTERM handler stop the reactor at once: every WebSocket
drops without a close frame and daphne cancels consumers mid-save. Here SIGTERM first
closes every chat connection with 1012 (service restart) once the frame it is handling
is saved and answered, waits for the close handshakes (bounded), then stops the reactor.
"""

import asyncio
import functools
import inspect
import logging
import signal
import sys
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings

from chat.protocol.codes import CloseCode
from chat.realtime.wire import RAW_SEND_EXTENSION, RawSend

logger = logging.getLogger(__name__)

# Registered close codes a server may send that autobahn's sendClose() refuses (it only
# takes 1000 and 3000-4999 from applications); they go through its sendCloseFrame().
# 1013 (try again later) is not one this server sends, so it is not in the registry.
_SERVER_CLOSE_CODES = frozenset(
    {CloseCode.GOING_AWAY, CloseCode.INTERNAL_ERROR, CloseCode.SERVICE_RESTART, 1013}
)

CLOSE_CODES = "close_codes"
NO_DELAY = "tcp_nodelay"
FRAME_LIMITS = "frame_limits"
SEND_AFTER_CLOSE = "send_message"
RAW_SEND = "raw_send"
SIGTERM = "sigterm"
PATCHES = (CLOSE_CODES, NO_DELAY, FRAME_LIMITS, SEND_AFTER_CLOSE, RAW_SEND, SIGTERM)


def install_graceful_shutdown() -> frozenset[str]:
    """Apply every patch whose internals check out, take over SIGTERM once the reactor
    runs. A no-op outside daphne. Returns the names of the patches applied."""
    if "daphne.server" not in sys.modules:
        return frozenset()  # imported by tests, a management command or another server
    # The database thread (channels' database_sync_to_async) needs the GIL after every
    # query while the loop thread fans out; with the default 5 ms switch interval each
    # query waits up to 5 ms for it, and ten of them per message stall every save.
    sys.setswitchinterval(settings.CHAT_GIL_SWITCH_INTERVAL_SECONDS)
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    from twisted.internet import reactor, tcp

    return install(
        server=Server,
        protocol=WebSocketProtocol,
        factory=WebSocketFactory,
        tcp_connection=tcp.Connection,
        reactor=reactor,
    )


def while_serving(start: Callable[[], object], stop: Callable[[], object]) -> bool:
    """Run `start` once daphne's reactor runs and `stop` before it shuts down (a SIGTERM
    included: the graceful stop ends in reactor.stop()). Public reactor API only; a no-op
    outside daphne (tests, management commands). Returns whether it was registered."""
    if "daphne.server" not in sys.modules:
        return False
    from twisted.internet import reactor as twisted_reactor

    reactor: Any = twisted_reactor  # Twisted's interfaces declare methods without self
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    return True


def install(
    *, server: Any, protocol: Any, factory: Any, tcp_connection: Any, reactor: Any
) -> frozenset[str]:
    missing = check(
        server=server,
        protocol=protocol,
        factory=factory,
        tcp_connection=tcp_connection,
        reactor=reactor,
    )
    applied = frozenset(name for name in PATCHES if not missing.get(name))
    if missing:
        logger.warning(
            "daphne integration: internals missing, so these patches are off (%s): %s",
            ", ".join(sorted(missing)),
            "; ".join(f"{name}: {', '.join(what)}" for name, what in sorted(missing.items())),
        )
    if CLOSE_CODES in applied:
        _patch_close_codes(protocol)
    if NO_DELAY in applied:
        _patch_no_delay(protocol)
    if FRAME_LIMITS in applied:
        _patch_frame_limits(factory)
    if SEND_AFTER_CLOSE in applied:
        _patch_send_message(protocol)
    if RAW_SEND in applied:
        _patch_raw_send(server, tcp_connection)
    if SIGTERM in applied:
        reactor.callWhenRunning(_take_over_sigterm)
    return applied


# --- the check ----------------------------------------------------------------------


def check(
    *, server: Any, protocol: Any, factory: Any, tcp_connection: Any, reactor: Any
) -> dict[str, list[str]]:
    """What each patch relies on and cannot find: patch name -> missing internals."""
    found: dict[str, list[str]] = {}

    def need(patch: str, what: str, ok: bool) -> None:
        if not ok:
            found.setdefault(patch, []).append(what)

    p = f"{protocol.__module__}.{protocol.__name__}"
    need(CLOSE_CODES, f"{p}.serverClose(code)", _takes(protocol, "serverClose", "code"))
    need(
        CLOSE_CODES,
        f"{p}.sendCloseFrame(code, isReply)",
        _takes(protocol, "sendCloseFrame", "code", "isReply"),
    )
    need(NO_DELAY, f"{p}.connectionMade()", _takes(protocol, "connectionMade"))
    limits = ("maxFramePayloadSize", "maxMessagePayloadSize", "failByDrop")
    need(
        FRAME_LIMITS,
        f"setProtocolOptions({', '.join(limits)})",
        _takes(factory, "setProtocolOptions", *limits),
    )
    open_state = isinstance(getattr(protocol, "STATE_OPEN", None), int)
    config = getattr(protocol, "CONFIG_ATTRS", ())
    need(SEND_AFTER_CLOSE, f"{p}.sendMessage()", _takes(protocol, "sendMessage"))
    need(SEND_AFTER_CLOSE, f"{p}.STATE_OPEN", open_state)
    need(SEND_AFTER_CLOSE, f"{p}.maxMessagePayloadSize", "maxMessagePayloadSize" in config)
    s = f"{server.__module__}.{server.__name__}"
    creates = _takes(server, "create_application", "protocol", "scope")
    need(RAW_SEND, f"{s}.create_application(protocol, scope)", creates)
    need(RAW_SEND, f"{p}.STATE_OPEN", open_state)
    for attribute in ("state", "send_queue", "websocket_extensions_in_use"):
        need(RAW_SEND, f"{p}().{attribute}", _assigned(protocol, attribute))
    t = f"{tcp_connection.__module__}.{tcp_connection.__name__}"
    need(RAW_SEND, f"{t}.writeSomeData(data)", _takes(tcp_connection, "writeSomeData", "data"))
    need(RAW_SEND, f"{t}.write()", _takes(tcp_connection, "write"))
    probe = _probe(tcp_connection)
    for attribute, kind in (
        ("_tempDataLen", int),
        ("dataBuffer", bytes),
        ("offset", int),
        ("connected", int),
        ("disconnecting", int),
    ):
        need(RAW_SEND, f"{t}().{attribute}", isinstance(getattr(probe, attribute, None), kind))
    for method in ("callWhenRunning", "callFromThread", "stop"):
        need(SIGTERM, f"reactor.{method}()", callable(getattr(reactor, method, None)))
    return found


def _takes(owner: Any, name: str, *params: str) -> bool:
    function = getattr(owner, name, None)
    if not callable(function):
        return False
    try:
        names = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return not params
    return all(param in names for param in params)


def _assigned(cls: Any, attribute: str) -> bool:
    """Whether the class or one of its bases sets `self.<attribute>` (an instance
    attribute made at run time, which no class attribute shows)."""
    needle = f"self.{attribute} ="
    for klass in getattr(cls, "__mro__", ()):
        try:
            if needle in inspect.getsource(klass):
                return True
        except (OSError, TypeError):
            continue
    return False


class _ProbeSocket:
    def setblocking(self, flag: bool) -> None:
        pass

    def fileno(self) -> int:
        return -1


def _probe(tcp_connection: Any) -> object:
    """A connection object built on a fake socket, to see the attributes it sets."""
    try:
        probe: object = tcp_connection(_ProbeSocket(), None, reactor=object())
        return probe
    except Exception:
        return None


# --- the patches --------------------------------------------------------------------


def _patch_close_codes(protocol: Any) -> None:
    send_close = protocol.serverClose

    @functools.wraps(send_close)
    def server_close(self: Any, code: int | None = None) -> None:
        if code in _SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            send_close(self, code)

    protocol.serverClose = server_close


def _patch_no_delay(protocol: Any) -> None:
    connection_made = protocol.connectionMade

    @functools.wraps(connection_made)
    def connection_made_no_delay(self: Any) -> None:
        connection_made(self)
        # Small frames pushed to idle clients must leave at once: with Nagle's algorithm
        # a frame waits for the ACK of the previous one, which delayed ACKs hold ~40 ms.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)

    protocol.connectionMade = connection_made_no_delay


def _patch_frame_limits(factory: Any) -> None:
    set_protocol_options = factory.setProtocolOptions

    # wraps: the signature stays visible, so a second check() still sees the original's.
    @functools.wraps(set_protocol_options)
    def set_protocol_options_limited(self: Any, *args: object, **options: object) -> None:
        # daphne passes its own sizes (1 MiB); ours replace them. autobahn then fails a
        # bigger frame or message from a client with 1009 before reading it whole, and
        # with failByDrop off it says so in a close frame instead of cutting the TCP.
        limit = settings.CHAT_MAX_FRAME_BYTES
        if limit > 0:
            options.update(maxFramePayloadSize=limit, maxMessagePayloadSize=limit, failByDrop=False)
        set_protocol_options(self, *args, **options)

    factory.setProtocolOptions = set_protocol_options_limited


def _patch_send_message(protocol: Any) -> None:
    send_message = protocol.sendMessage

    @functools.wraps(send_message)
    def send_message_unlimited(self: Any, *args: object, **kwargs: object) -> None:
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

    protocol.sendMessage = send_message_unlimited


def _patch_raw_send(server: Any, tcp_connection: Any) -> None:
    create_application = server.create_application

    @functools.wraps(create_application)
    def create_application_with_raw_send(self: Any, protocol: object, scope: dict[str, Any]) -> Any:
        if scope.get("type") == "websocket":
            extensions = scope.setdefault("extensions", {})
            extensions[RAW_SEND_EXTENSION] = _raw_send(weakref.ref(protocol), tcp_connection)
        return create_application(self, protocol, scope)

    server.create_application = create_application_with_raw_send


def _raw_send(ref: "weakref.ref[Any]", tcp_connection: Any) -> RawSend:
    """A writer of whole pre-built frames (chat/realtime/wire.py) to one WebSocket.

    The fan-out writes one message to every socket of a room; through ASGI each write
    passes channels' session wrapper, daphne, autobahn's framing and logging, and
    Twisted's write buffer, which registers the socket with epoll and sends on the next
    loop turn. Here an open, idle plain-TCP socket gets the bytes with one send() now;
    anything else (TLS, a write already buffered, compression, a closing socket) goes
    through Twisted's buffer, and a socket that is not open refuses (returns False) so
    the caller takes the ASGI path, which knows what to do.
    """

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
            isinstance(transport, tcp_connection)
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

    from chat import realtime

    task = asyncio.ensure_future(
        realtime.current().close_all(
            CloseCode.SERVICE_RESTART, settings.CHAT_SHUTDOWN_TIMEOUT_SECONDS
        )
    )

    def done(result: object) -> None:
        logger.info("graceful shutdown: %s connections left open; stopping", result)
        reactor.stop()  # type: ignore[misc]  # twisted stubs

    stop: Callable[[object], None] = done
    defer.Deferred.fromFuture(task).addBoth(stop)
