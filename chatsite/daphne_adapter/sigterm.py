"""Patch: a graceful stop on SIGTERM. Stock daphne lets Twisted's SIGTERM handler stop
the reactor at once: every WebSocket drops without a close frame and daphne cancels
consumers mid-save. Here SIGTERM first closes every chat connection with 1012 (service
restart) once the frame it is handling is saved and answered, waits for the close
handshakes (bounded), then stops the reactor; a second SIGTERM stops at once. Only
queued from checks.install, never at import."""

import asyncio
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings

from chatsite.daphne_adapter.internals import Internals
from chatsite.daphne_adapter.needs import TWISTED, Patch, reactor_has, takes

logger = logging.getLogger(__name__)


def _apply(internals: Internals) -> None:
    reactor, deferred = internals.reactor, internals.deferred

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
            reactor.callFromThread(_stop_gracefully, reactor, deferred)

        signal.signal(signal.SIGTERM, on_sigterm)

    reactor.callWhenRunning(take_over)


def _stop_gracefully(reactor: Any, deferred: Any) -> None:
    from chat import realtime
    from chat.protocol.codes import CloseCode

    task = asyncio.ensure_future(
        realtime.current().close_all(
            CloseCode.SERVICE_RESTART, settings.CHAT_SHUTDOWN_TIMEOUT_SECONDS
        )
    )

    def done(result: object) -> None:
        logger.info("graceful shutdown: %s connections left open; stopping", result)
        reactor.stop()

    stop: Callable[[object], None] = done
    deferred.fromFuture(task).addBoth(stop)


PATCH = Patch(
    name="sigterm",
    check_id="chat.W106",
    fallback="daphne's own SIGTERM handling: the reactor stops at once, sockets drop "
    "without a 1012 close frame",
    needs=(
        *reactor_has("callWhenRunning", "callFromThread", "stop"),
        takes("deferred", "fromFuture", "future"),
        TWISTED,
    ),
    apply=_apply,
)
