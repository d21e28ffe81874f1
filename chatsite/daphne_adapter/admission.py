"""Patch: a cheap early refusal while the process is starting or stopping. Until the
realtime side is warmed up (its channel-layer subscription made) and again from SIGTERM
on, every new HTTP request and WebSocket handshake is answered `503` with `Retry-After`
by daphne's HTTP protocol itself, before the ASGI application, Django or a consumer sees
it: a client of a restarting process backs off (or nginx's `proxy_next_upstream
http_503` tries the other process) instead of queueing for a slow handshake. /readyz is
refused too, so a balancer's health check sees the process leave and come back. And
while serving, at most CHAT_MAX_OPENING_HANDSHAKES WebSocket handshakes are in progress;
past it a handshake is answered 503 at once (see _limit_opening).
Applied from checks.install, never at import."""

import asyncio
import enum
import functools
import logging
from typing import Any

from django.conf import settings

from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import DAPHNE, TWISTED, Patch, reactor_has, takes

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
_BODY = b"503 Service Unavailable: the server is restarting; try again.\n"


class Phase(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    DRAINING = "draining"


class Gate:
    """This process's admission phase (one per process: daphne serves one reactor), and
    its WebSocket handshakes in progress."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING
        self.refused = 0  # requests refused in the current phase
        self.opening = 0  # WebSocket handshakes between onConnect and onOpen/onClose
        self.busy_refused = 0  # handshakes refused for too many in progress

    @property
    def refusing(self) -> bool:
        return self.phase is not Phase.SERVING

    def serve(self) -> None:
        if self.phase is Phase.STARTING:
            logger.info("serving (refused %d requests while starting)", self.refused)
            self.phase, self.refused = Phase.SERVING, 0

    def drain(self) -> None:
        self.phase, self.refused = Phase.DRAINING, 0


gate = Gate()


def refuse(request: Any) -> None:
    """Answer a daphne WebRequest 503 and close: no ASGI application is made."""
    gate.refused += 1
    request.setResponseCode(503)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"retry-after", str(RETRY_AFTER_SECONDS).encode())
    request.setHeader(b"connection", b"close")
    request.write(_BODY)
    request.finish()


async def warm_up() -> None:
    """What the first connections would otherwise all wait for together: the realtime
    runtime (hub channel, subscriptions, periodic jobs). A failure is logged by whoever
    meets it next; the process serves anyway (/readyz says what is down)."""
    from chat import realtime

    try:
        await realtime.current().start()
    except Exception as error:
        logger.info("warm-up incomplete (%r); serving anyway", error)
    gate.serve()


def _limit_opening(protocol: Any) -> None:
    """At most CHAT_MAX_OPENING_HANDSHAKES WebSocket handshakes in progress (from the
    upgrade request to the accept, the connect's costly part): past it a handshake is
    answered 503 at once. A flood of reconnects (a restarted process's clients) would
    otherwise queue thousands of handshakes that time out on the client while the
    server still pays for each, so that nobody gets in."""
    from autobahn.websocket.types import ConnectionDeny

    on_connect, on_open, on_close = protocol.onConnect, protocol.onOpen, protocol.onClose

    @functools.wraps(on_connect)
    def on_connect_limited(self: Any, request: Any) -> Any:
        limit = settings.CHAT_MAX_OPENING_HANDSHAKES
        if limit > 0 and gate.opening >= limit:
            gate.busy_refused += 1
            self._chat_refused = True  # daphne never hears of it (see on_close)
            raise ConnectionDeny(503, "Service Unavailable")  # type: ignore[no-untyped-call]
        gate.opening += 1
        self._chat_opening = True
        return on_connect(self, request)

    def opened(self: Any) -> None:
        if self.__dict__.pop("_chat_opening", False):
            gate.opening -= 1

    @functools.wraps(on_open)
    def on_open_counted(self: Any) -> Any:
        opened(self)
        return on_open(self)

    @functools.wraps(on_close)
    def on_close_counted(self: Any, was_clean: bool, code: int, reason: str) -> Any:
        opened(self)
        if self.__dict__.get("_chat_refused"):
            return None  # refused before daphne registered it
        return on_close(self, was_clean, code, reason)

    protocol.onConnect = on_connect_limited
    protocol.onOpen = on_open_counted
    protocol.onClose = on_close_counted


def _apply(internals: Internals) -> None:
    request_class, reactor = internals.http_request, internals.reactor
    process = request_class.process
    _limit_opening(internals.protocol)

    @functools.wraps(process)
    def process_or_refuse(self: Any) -> Any:
        if gate.refusing:
            refuse(self)
            return None
        return process(self)

    request_class.process = process_or_refuse
    reactor.callWhenRunning(_start_warm_up)


def _start_warm_up() -> None:
    try:
        loop = asyncio.get_running_loop()  # the reactor's (Twisted's asyncio reactor)
    except RuntimeError:  # a reactor without asyncio: nothing to warm up
        gate.serve()
        return
    warming = loop.create_task(warm_up())
    _tasks.add(warming)
    warming.add_done_callback(_tasks.discard)


_tasks: set["asyncio.Task[None]"] = set()


PATCH = Patch(
    name="admission",
    check_id="chat.W109",
    fallback="requests that arrive while the process starts or stops go to Django "
    "(a stopping process drops them; a starting one answers them slowly)",
    needs=(
        takes("http_request", "process"),
        takes("protocol", "onConnect", "request"),
        takes("protocol", "onOpen"),
        takes("protocol", "onClose", "wasClean", "code", "reason"),
        takes("http_request", "setResponseCode", "code"),
        takes("http_request", "setHeader", "name", "value"),
        takes("http_request", "write", "data"),
        takes("http_request", "finish"),
        *reactor_has("callWhenRunning"),
        DAPHNE,
        TWISTED,
    ),
    apply=_apply,
)
