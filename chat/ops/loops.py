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


def request_thread_loop() -> asyncio.AbstractEventLoop | None:
    """The serving loop, when this thread is one of its per-request threads (Django's
    ASGI handler runs each request's sync code in a ThreadSensitiveContext of its own).
    Only such a thread may block on work it hands the loop that itself needs the
    process's database thread: the shared sync thread (channels' database thread) would
    wait on itself. None anywhere else."""
    loop = serving_loop()
    if loop is None or _running_here(loop):
        return None
    context = getattr(SyncToAsync, "thread_sensitive_context", None)
    if context is None or context.get(None) is None:
        return None
    return loop


def _running_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
