"""Patch: a fast graceful stop on SIGTERM. Stock daphne lets Twisted's SIGTERM handler
stop the reactor at once: every WebSocket drops without a close frame and daphne cancels
consumers mid-save. Here SIGTERM first refuses new requests (admission.py), lets the
frames being handled finish (their sends committed and acknowledged), then writes a 1012
(service restart) close frame on every WebSocket and drops it without waiting for the
client's answer or running each consumer's disconnect: the process is going away, so its
hub leaves its channel-layer groups in one go, its connection-cap counts are given back
in one call and its presence entries expire (clients that come back within
CHAT_PRESENCE_TIMEOUT_SECONDS are never shown offline). Then the write batch in flight
settles, the reactor stops and the process exits without the interpreter's teardown
(_exit). A second SIGTERM stops at once. Only queued from
checks.install, never at import."""

import asyncio
import atexit
import contextlib
import functools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings

from chatsite.daphne_adapter import admission
from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import (
    DAPHNE,
    TWISTED,
    Patch,
    class_has,
    reactor_has,
    takes,
)

logger = logging.getLogger(__name__)


def close_frame(code: int, reason: str = "") -> bytes:
    """An unmasked server close frame with `code` and a short UTF-8 `reason` (RFC 6455
    5.5.1: a control frame's payload is at most 125 bytes)."""
    payload = int(code).to_bytes(2, "big") + reason.encode()[:123]
    return bytes((0x88, len(payload))) + payload


def drop_websockets(server: Any, protocol_class: Any, code: int, reason: str = "") -> int:
    """Write the close frame on every open WebSocket of daphne's `server` and drop every
    WebSocket (open or still in its handshake) without a close handshake; daphne sends
    its application no disconnect (muted). Returns how many were dropped."""
    frame = close_frame(code, reason)
    dropped = 0
    for protocol in list(getattr(server, "connections", ())):
        if not isinstance(protocol, protocol_class):
            continue
        protocol.muted = True  # daphne: no websocket.disconnect for the consumer
        transport = protocol.transport
        if transport is None:
            continue
        if protocol.state == protocol.STATE_OPEN:
            transport.write(frame)
        transport.loseConnection()  # sends what is buffered (the close frame), then FIN
        dropped += 1
    return dropped


def _apply(internals: Internals) -> None:
    reactor, deferred = internals.reactor, internals.deferred
    server_class, protocol_class = internals.server, internals.protocol
    running: list[Any] = []  # the daphne Server this process runs
    run = server_class.run

    @functools.wraps(run)
    def run_recorded(self: Any) -> Any:
        running.append(self)
        return run(self)

    server_class.run = run_recorded

    def drop(code: int, reason: str) -> int:
        return sum(drop_websockets(server, protocol_class, code, reason) for server in running)

    def take_over() -> None:
        # Runs once the reactor runs, after Twisted installed its own handlers: this one
        # replaces its SIGTERM.
        stopping = False

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            if stopping:  # a second SIGTERM: stop now
                reactor.callFromThread(reactor.stop)
                return
            stopping = True
            reactor.callFromThread(_stop_gracefully, reactor, deferred, drop)

        signal.signal(signal.SIGTERM, on_sigterm)

    reactor.callWhenRunning(take_over)


async def shut_down(drop: Callable[[int, str], int]) -> int:
    """Close every chat socket with 1012 and settle what they started. Returns how many
    frames had not finished within CHAT_SHUTDOWN_TIMEOUT_SECONDS."""
    from chat import realtime
    from chat.database import group_commit
    from chat.limits import policy
    from chat.protocol.codes import CloseCode

    wait = settings.CHAT_SHUTDOWN_TIMEOUT_SECONDS
    unfinished = await realtime.current().close_all(CloseCode.SERVICE_RESTART, wait, drop)
    guard = policy.current()
    held = {key: count for key, count in guard.held.items() if count > 0}
    guard.held.clear()

    async def release() -> None:
        if held:
            with contextlib.suppress(Exception):  # else they expire with this process's TTL
                await asyncio.wait_for(guard.store.release(held), wait)

    settled, _ = await asyncio.gather(group_commit.current().settled(wait), release())
    if not settled:
        logger.info("graceful shutdown: the write batch did not settle within %.0f s", wait)
    return unfinished


def _stop_gracefully(reactor: Any, deferred: Any, drop: Callable[[int, str], int]) -> None:
    admission.gate.drain()
    started = time.monotonic()
    task = asyncio.ensure_future(shut_down(drop))

    def done(result: object) -> None:
        logger.info(
            "graceful shutdown: done in %.2f s (%s frames unfinished); stopping",
            time.monotonic() - started,
            result,
        )
        with contextlib.suppress(AttributeError):
            reactor.addSystemEventTrigger("after", "shutdown", functools.partial(_exit, started))
        reactor.stop()

    stop: Callable[[object], None] = done
    deferred.fromFuture(task).addBoth(stop)


def _exit(started: float) -> None:
    """The reactor stopped: end the process now. Left to itself, the interpreter would
    then spend seconds freeing the objects of thousands of dropped sockets one by one
    (5 s after 1,500 sockets on a busy machine) before the process ends and its port
    can serve again. What must run at exit still does: the atexit handlers (the
    metrics' dead-process cleanup), then the logs are flushed."""
    logger.info("stopped %.2f s after SIGTERM; exiting", time.monotonic() - started)
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


PATCH = Patch(
    name="sigterm",
    check_id="chat.W106",
    fallback="daphne's own SIGTERM handling: the reactor stops at once, sockets drop "
    "without a 1012 close frame",
    needs=(
        *reactor_has("callWhenRunning", "callFromThread", "stop"),
        takes("deferred", "fromFuture", "future"),
        takes("server", "run"),
        class_has("protocol", "muted", bool),
        class_has("protocol", "STATE_OPEN", int),
        DAPHNE,
        TWISTED,
    ),
    apply=_apply,
)
