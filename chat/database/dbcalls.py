"""How async code reaches the database: reads on a small pool of their own threads,
writes on channels' one database thread with their publishes sent from the event loop.

Channels runs every ORM call of a process on one thread. With writes batched there
(chat/database/group_commit.py), a connect's reads (rooms, history, backlogs) and the
hub's gap fills would still queue behind each batch; on their own threads they do not. Reads need no
ordering with writes beyond what the database gives: once a seq is visible, every seq
below it is too (the saving transaction holds the room row's lock).

No ORM here: callers pass a selector or a service.
"""

import contextlib
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

from chat import events
from chat.database import outage

T = TypeVar("T")

_pool: tuple[ThreadPoolExecutor, int] | None = None  # made on first use, with its size


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        size = max(1, settings.CHAT_DB_READ_THREADS)
        _pool = (ThreadPoolExecutor(max_workers=size, thread_name_prefix="db-read"), size)
    return _pool[0]


def shutdown() -> None:
    """Close the read threads' database connections and stop the threads (a test's
    teardown; a process that exits needs nothing)."""
    global _pool
    made, _pool = _pool, None
    if made is None:
        return
    pool, workers = made
    # A task per thread: each waits at the barrier until all are running, so every
    # thread takes exactly one and closes its own (thread-local) connections.
    barrier = threading.Barrier(workers)

    def close_mine() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        connections.close_all()

    # Bounded: a thread stuck in a query must not hang a test's teardown.
    futures.wait([pool.submit(close_mine) for _ in range(workers)], timeout=10)
    pool.shutdown(wait=False, cancel_futures=True)


def _read_in_thread(function: Callable[..., T], kwargs: dict[str, Any]) -> T:
    # What database_sync_to_async does around a call: drop connections past their age
    # (or broken), before and after, so a pool thread never reuses a dead one.
    close_old_connections()
    try:
        return outage.call(function, kwargs, twice=True)  # a read is safe to run twice
    finally:
        close_old_connections()


def _write_on_db_thread(function: Callable[..., T], kwargs: dict[str, Any]) -> T:
    # Not run twice: a service need not be idempotent, and a failed COMMIT may have
    # committed. The client gets `unavailable` and decides (docs/protocol.md).
    return outage.call(function, kwargs, twice=False)


async def read(function: Callable[..., T], **kwargs: Any) -> T:
    """Run a selector on a read thread (CHAT_DB_READ_THREADS of them per process).
    DatabaseUnavailable (a ChatError) when the database does not answer."""
    if settings.CHAT_DB_READ_THREADS <= 0:  # off: reads share the database thread
        result: T = await database_sync_to_async(outage.call)(function, kwargs, twice=True)
        return result
    call = sync_to_async(
        partial(_read_in_thread, function, kwargs), thread_sensitive=False, executor=_executor()
    )
    done: T = await call()
    return done


async def write(function: Callable[..., T], **kwargs: Any) -> T:
    """Run a service on the database thread, then wait until what it published (after
    its commit) has left this event loop, and return its result. The database thread is
    free for the next frame's work while Redis is written to. DatabaseUnavailable (a
    ChatError) when the database does not answer."""
    result: T = await database_sync_to_async(_write_on_db_thread)(function, kwargs)
    await events.published()
    return result
