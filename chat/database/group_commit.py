"""The transport side of group commit: each process gathers the sends its connections
hand it while the database thread is busy, and saves them as one batch
(services.message_post_many). Publishes run on the event loop after the commit, never
on the database thread, and each send is answered only after that.

No ORM here: the database work is one services call per batch.
"""

import asyncio
import weakref
from collections import deque

from channels.db import database_sync_to_async
from django.conf import settings

from chat import events
from chat.database import dbcalls
from chat.errors import ChatError
from chat.selectors import MessageOut
from chat.services.batch import Outcome, SendRequest, message_post_many


class Writer:
    """One per event loop (process). Sends queue here; one task writes them in batches
    of at most CHAT_WRITE_BATCH_MAX, without waiting to fill one: a lone send is saved
    at once, and sends that arrive meanwhile wait for the next batch, not for a timer."""

    def __init__(self) -> None:
        self._pending: deque[tuple[SendRequest, asyncio.Future[Outcome]]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # batches written, for tests and the bench

    async def post(self, request: SendRequest) -> MessageOut:
        """Save the send (idempotent by client_id) and return the saved message once it
        is committed and published; ChatError as message_post raises it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((request, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        outcome = await future
        if isinstance(outcome, ChatError):
            raise outcome
        return outcome

    async def _flush(self) -> None:
        limit = max(1, settings.CHAT_WRITE_BATCH_MAX)
        while self._pending:
            batch = [self._pending.popleft() for _ in range(min(limit, len(self._pending)))]
            self.batches += 1
            try:
                outcomes, collected = await database_sync_to_async(dbcalls.collecting)(
                    message_post_many, {"requests": [request for request, _ in batch]}
                )
            except BaseException as failure:
                # The transaction failed: nothing was saved, nothing is acknowledged.
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                if isinstance(failure, asyncio.CancelledError):
                    raise
                continue
            await events.send_collected(collected)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # its connection may have gone meanwhile
                    future.set_result(outcome)


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Writer]" = (
    weakref.WeakKeyDictionary()
)


def current() -> Writer:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = Writer()
    return writer
