"""Which event loop a thread works for: what lets sync code (a service's commit hook, a
sync view under daphne) hand work to its process's event loop instead of blocking on it.
No I/O; reads asgiref's record of the sync_to_async call running in this thread."""

import asyncio
import os

from asgiref.sync import SyncToAsync


def serving_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop this thread works for: the loop itself, or the loop that
    is awaiting the sync_to_async call running in this thread (channels' database
    thread, the read threads, Django's sync views under ASGI). None elsewhere (a
    management command, a job runner, a sync test). asgiref keeps that loop in a
    thread-local for its own async_to_sync; a version without it gives None, and
    callers then do the work in this thread, as they would outside a server."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    local = getattr(SyncToAsync, "threadlocal", None)
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    loop: asyncio.AbstractEventLoop | None = getattr(local, "main_event_loop", None)
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop
