"""The daphne, autobahn and Twisted objects the adapter patches, in one value, and
throwaway instances built from them for the checks to look at (no socket, no reactor run).
Nothing here patches anything; only `load()` imports daphne's server module."""

import functools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Internals:
    """What the patches touch. Tests pass subclasses and fakes instead of the real ones,
    so a patch never lands on daphne's own classes in a test process."""

    server: Any  # daphne.server.Server
    protocol: Any  # daphne.ws_protocol.WebSocketProtocol
    factory: Any  # daphne.ws_protocol.WebSocketFactory
    tcp_connection: Any  # twisted.internet.tcp.Connection
    deferred: Any  # twisted.internet.defer.Deferred
    reactor: Any  # the reactor daphne runs (Twisted's asyncio reactor)
    http_request: Any = None  # daphne.http_protocol.WebRequest
    opening_module: Any = None  # autobahn.websocket.protocol (its _connectionMade's globals)


def load() -> Internals:
    """The real ones. Importing daphne.server installs Twisted's asyncio reactor, as
    daphne itself does before it serves; outside daphne only `manage.py check --deploy`
    calls this (a one-shot process), never a test process."""
    from daphne.http_protocol import WebRequest
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    from twisted.internet import defer, reactor, tcp

    return Internals(
        server=Server,
        protocol=WebSocketProtocol,
        factory=WebSocketFactory,
        tcp_connection=tcp.Connection,
        deferred=defer.Deferred,
        reactor=reactor,
        http_request=WebRequest,
        opening_module=_defining_module(WebSocketProtocol, "_connectionMade"),
    )


def _defining_module(klass: type, method: str) -> Any:
    """The module whose globals `klass.method` runs with."""
    import sys

    owner = next((k for k in klass.__mro__ if method in vars(k)), None)
    return sys.modules.get(owner.__module__) if owner is not None else None


def qualified(owner: Any) -> str:
    return f"{getattr(owner, '__module__', '?')}.{getattr(owner, '__qualname__', owner)}"


# A client's opening handshake (RFC 6455 section 1.3's example key).
_HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: probe\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class _ProbeSocket:
    def setblocking(self, flag: bool) -> None:
        pass

    def fileno(self) -> int:
        return -1


class Subject:
    """The internals plus instances of them, built on first use: the attributes a patch
    reads on a connection are set at run time, so only an instance shows them."""

    def __init__(self, internals: Internals) -> None:
        self.internals = internals

    @functools.cached_property
    def open_protocol(self) -> object | None:
        """A WebSocket protocol that went through autobahn's real opening handshake in
        memory (what daphne's protocols are when a consumer writes to them)."""
        from twisted.internet.testing import MemoryReactorClock, StringTransport

        base = self.internals.protocol

        class Probe(base):  # type: ignore[misc, valid-type]  # a class held in a value
            def onConnect(self, request: object) -> None:
                return None  # accept at once, without daphne's application

            def onOpen(self) -> None:
                pass

        try:
            clock = MemoryReactorClock()  # type: ignore[no-untyped-call]
            factory = self.internals.factory(None, reactor=clock)
            factory.protocol = Probe
            # No timers: they would go through txaio to the global reactor.
            factory.setProtocolOptions(openHandshakeTimeout=0, autoPingInterval=0)
            protocol: Any = factory.buildProtocol(None)
            protocol.makeConnection(StringTransport())  # type: ignore[no-untyped-call]
            protocol.dataReceived(_HANDSHAKE)
            probe: object = protocol
            return probe
        except Exception:
            return None

    @functools.cached_property
    def connection(self) -> object | None:
        """A Twisted TCP connection built on a fake socket."""
        try:
            probe: object = self.internals.tcp_connection(_ProbeSocket(), None, reactor=object())
            return probe
        except Exception:
            return None
