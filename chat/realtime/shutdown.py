"""Graceful stop: close every connection of the process once its current frame is
handled, and wait (bounded) for the close handshakes."""

import asyncio
import contextlib
import logging

from chat.realtime.registry import Registry

logger = logging.getLogger(__name__)


async def close_all(registry: Registry, code: int, wait_seconds: float) -> int:
    """Close every connection with `code` and wait up to `wait_seconds` for them to go.
    New connections are refused from now on. Returns how many were still open after."""
    registry.shutting_down = True
    conns = list(registry.connections)
    logger.info("graceful shutdown: closing %d connections with %d", len(conns), code)
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
