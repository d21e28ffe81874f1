"""Process-local bookkeeping of live room connections, for the two jobs that need to
see all of them: catching up connections the channel layer failed (a dropped or
unpublished event, a Redis restart), and closing them all on a graceful shutdown.

Transport layer: it reads through selectors only and never writes.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from chat import selectors

logger = logging.getLogger(__name__)


class LiveConnection(Protocol):
    room_id: int
    last_seq: int

    async def catch_up(self, up_to: int) -> None: ...

    async def shut_down(self, code: int) -> None: ...


_by_room: dict[int, set[LiveConnection]] = defaultdict(set)
_sync_task: asyncio.Task[None] | None = None
_shutting_down = False
_all_closed: asyncio.Event | None = None  # set once shutting down and nothing is left


def register(conn: LiveConnection) -> None:
    global _sync_task
    _by_room[conn.room_id].add(conn)
    if _sync_task is None or _sync_task.done():
        _sync_task = asyncio.get_running_loop().create_task(_sync_forever())


def unregister(conn: LiveConnection) -> None:
    members = _by_room.get(conn.room_id)
    if members is not None:
        members.discard(conn)
        if not members:
            del _by_room[conn.room_id]
    if _all_closed is not None and not _by_room:
        _all_closed.set()


def connection_count() -> int:
    return sum(len(members) for members in _by_room.values())


def shutting_down() -> bool:
    return _shutting_down


async def sync_once() -> None:
    """Compare every local connection with its room's committed seq; catch up laggards."""
    if not _by_room:
        return
    latest = await database_sync_to_async(selectors.room_last_seqs)(room_ids=list(_by_room))
    laggards = [
        (conn, latest[room_id])
        for room_id, members in list(_by_room.items())
        if room_id in latest
        for conn in list(members)
        if conn.last_seq < latest[room_id]
    ]
    if laggards:
        await asyncio.gather(*(conn.catch_up(up_to) for conn, up_to in laggards))


async def _sync_forever() -> None:
    # One cheap query per process per interval bounds how long a lost event can delay
    # a message: the channel layer is fast, the database is the truth.
    while _by_room:
        await asyncio.sleep(settings.CHAT_SYNC_INTERVAL_SECONDS)
        try:
            await sync_once()
        except Exception:
            logger.exception("delivery sync failed; retrying next interval")


async def close_all(code: int, wait_seconds: float) -> int:
    """Close every live connection with `code` once its current frame is handled, and
    wait (up to `wait_seconds`) for them to go. Returns how many were still open after."""
    global _shutting_down, _all_closed
    _shutting_down = True
    _all_closed = asyncio.Event()
    conns = [conn for members in list(_by_room.values()) for conn in list(members)]
    logger.info("graceful shutdown: closing %d connections with %d", len(conns), code)
    if not conns:
        return 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    await asyncio.wait(
        [loop.create_task(conn.shut_down(code)) for conn in conns], timeout=wait_seconds
    )
    if _by_room:
        # The close handshakes finish as clients answer; each disconnect unregisters.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_all_closed.wait(), max(deadline - loop.time(), 0))
    return connection_count()
