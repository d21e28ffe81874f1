"""Patch: a cheap early refusal while the process is starting or stopping. Until the
realtime side is warmed up (its channel-layer subscription made) and again from SIGTERM
on, every new HTTP request and WebSocket handshake is answered `503` with `Retry-After`
by daphne's HTTP protocol itself, before the ASGI application, Django or a consumer sees
it: a client of a restarting process backs off (or nginx's `proxy_next_upstream
http_503` tries the other process) instead of queueing for a slow handshake. /readyz is
refused too, so a balancer's health check sees the process leave and come back.
Applied from checks.install, never at import."""

import asyncio
import enum
import functools
import logging
from typing import Any

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
    """This process's admission phase (one per process: daphne serves one reactor)."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING
        self.refused = 0  # requests refused in the current phase

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


def _apply(internals: Internals) -> None:
    request_class, reactor = internals.http_request, internals.reactor
    process = request_class.process

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
