"""Graceful stop of one process's connections: no new frame is handled, the frames being
handled finish (their sends saved and acknowledged), then every socket is closed with the
restart code. With the server's `drop` (the daphne adapter's, chatsite/daphne_adapter/
sigterm.py) the close frames are written and the sockets dropped at once, without a close
handshake or any per-connection cleanup; without it each connection is closed through
ASGI and its consumer's disconnect runs (bounded wait). No database access here."""

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

from django.conf import settings

from chat import events
from chat.realtime.connection import Connection, State
from chat.realtime.hub import Hub
from chat.realtime.registry import Registry

logger = logging.getLogger(__name__)

# Writes the close frame with the given code and reason on every WebSocket of the
# process and drops each socket without waiting for the client's answer; returns how many.
Drop = Callable[[int, str], int]

SPREAD_MIN_SECONDS = 3  # the page's own least window (chat/static/chat/backoff.js)
SPREAD_MAX_SECONDS = 60  # and its most


def restart_reason(sockets: int) -> str:
    """The 1012 close reason that asks clients to spread their reconnects over a window
    in which the processes that stay can take them all (docs/protocol.md): `sockets` at
    CHAT_RESTART_RECONNECTS_PER_SECOND."""
    rate = max(settings.CHAT_RESTART_RECONNECTS_PER_SECOND, 1.0)
    spread = min(max(math.ceil(sockets / rate), SPREAD_MIN_SECONDS), SPREAD_MAX_SECONDS)
    return f"spread={spread}"


async def close_all(
    registry: Registry,
    code: int,
    wait_seconds: float,
    *,
    drop: Drop | None = None,
    hub: Hub | None = None,
) -> int:
    """Close every connection with `code`. New connections are refused from now on.
    Returns how many frames were still being handled (with `drop`) or how many
    connections were still open (without) when `wait_seconds` ran out."""
    registry.shutting_down = True
    conns = list(registry.connections)
    logger.info("graceful shutdown: closing %d connections with %d", len(conns), code)
    if drop is None:
        return await _close_each(registry, conns, code, wait_seconds)
    unfinished = await _stop_frames(conns, wait_seconds)
    reason = restart_reason(len(conns))
    dropped = drop(code, reason)
    logger.info("graceful shutdown: %d sockets closed with %d (%s)", dropped, code, reason)
    if hub is not None:
        await _leave_groups(hub, wait_seconds)
    return unfinished


async def _stop_frames(conns: list[Connection], wait_seconds: float) -> int:
    """No connection handles another frame (a frame that waited is never acknowledged,
    so its client resends it elsewhere) and nothing more is delivered; the frames being
    handled finish first. Returns how many had not finished within `wait_seconds`."""
    busy = []
    for conn in conns:
        if conn.frame_lock.locked():
            busy.append(conn)
        elif conn.state < State.CLOSING:
            conn.state = State.CLOSING
    if not busy:
        return 0
    loop = asyncio.get_running_loop()
    _, pending = await asyncio.wait(
        [loop.create_task(conn.stop_frames()) for conn in busy], timeout=wait_seconds
    )
    for task in pending:
        task.cancel()
    for conn in busy:  # one that did not finish: its client's resend is the answer
        conn.state = max(conn.state, State.CLOSING)
    return len(pending)


async def _leave_groups(hub: Hub, wait_seconds: float) -> None:
    """Take the hub's channel out of its groups at once (a per-socket disconnect would
    have, room by room): publishes stop going to a channel nobody reads."""
    groups = [events.CONTROL_GROUP, events.MESSAGES_GROUP]
    groups += [events.room_group(room_id) for room_id in hub.rooms]

    async def leave(group: str) -> None:
        with contextlib.suppress(Exception):  # the layer may be down; they expire
            await hub.layer.group_discard(group, hub.channel)

    # Side by side: one round trip's time for all of them, not one per room.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(leave(g) for g in groups)), wait_seconds)


async def _close_each(
    registry: Registry, conns: list[Connection], code: int, wait_seconds: float
) -> int:
    """Without the server's drop: each connection closed through ASGI once its frame is
    handled, then a bounded wait for the close handshakes."""
    if not conns:
        return 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    await asyncio.wait(
        [loop.create_task(conn.shut_down(code)) for conn in conns], timeout=wait_seconds
    )
    if registry.connections:
        # The close handshakes finish as clients answer; each disconnect leaves.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(registry.all_closed.wait(), max(deadline - loop.time(), 0))
    return len(registry.connections)
