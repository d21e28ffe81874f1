"""The transport side of group commit: each process gathers the sends its connections
(and its HTTP views) hand it while the database thread is busy, and saves them as one
batch through the one write path (services.message_post_many). Publishes leave from the
event loop after the commit, never from the database thread, and each send is answered
only after that.

No ORM here: the database work is one services call per batch.
"""

import asyncio
import contextvars
import logging
import weakref
from collections import deque

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings

from chat import events
from chat.database import outage
from chat.errors import ChatError
from chat.ops import loops
from chat.selectors import MessageOut
from chat.services.posting import Outcome, SendRequest, message_post_many, message_post_one

logger = logging.getLogger(__name__)


class GroupCommit:
    """One per event loop (process). Sends queue here; one task writes them in batches
    of at most CHAT_WRITE_BATCH_MAX, without waiting to fill one: a lone send is saved
    at once, and sends that arrive meanwhile wait for the next batch, not for a timer."""

    def __init__(self) -> None:
        self._pending: deque[tuple[SendRequest, asyncio.Future[Outcome]]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # batches written, for tests and the bench
        self.outages = outage.OutageLog(logger, "saving sends")

    async def post(self, request: SendRequest) -> MessageOut:
        """Save the send (idempotent by client_id) and return the saved message once it
        is committed and published; ChatError as message_post raises it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((request, future))
        if self._flusher is None or self._flusher.done():
            # A context of its own: the task outlives the send that started it, and must
            # not inherit its context (asgiref routes sync calls by it: an HTTP view's
            # send would tie every later batch to that request's thread).
            self._flusher = loop.create_task(self._flush(), context=contextvars.Context())
        outcome = await future
        if isinstance(outcome, ChatError):
            raise outcome
        return outcome

    async def settled(self, wait_seconds: float) -> bool:
        """Wait (bounded) until every queued send is written and answered: a graceful
        stop lets the batch being written commit and be acknowledged. False on timeout."""
        flusher = self._flusher
        if flusher is None or flusher.done():
            return True
        done, _ = await asyncio.wait([flusher], timeout=wait_seconds)
        return bool(done)

    async def _flush(self) -> None:
        limit = max(1, settings.CHAT_WRITE_BATCH_MAX)
        while self._pending:
            batch = [self._pending.popleft() for _ in range(min(limit, len(self._pending)))]
            self.batches += 1
            try:
                # Safe to run twice (idempotent by client_id): a batch that met a
                # connection the database dropped while idle is saved on a new one.
                outcomes = await database_sync_to_async(outage.call)(
                    message_post_many, {"requests": [request for request, _ in batch]}, twice=True
                )
            except BaseException as failure:
                # The transaction failed: nothing is acknowledged. With the database
                # away, each send is refused `unavailable` and the client resends it
                # (if a lost COMMIT did save it, the resend is answered with that one).
                if outage.is_outage(failure):  # any other: each send's caller logs it
                    self.outages.failed(failure)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                if isinstance(failure, asyncio.CancelledError):
                    raise
                continue
            self.outages.ok()
            await events.published()  # answered once published, as every write is
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():  # its connection may have gone meanwhile
                    future.set_result(outcome)


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit]" = (
    weakref.WeakKeyDictionary()
)


def current() -> GroupCommit:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = GroupCommit()
    return writer


def post_sync(request: SendRequest) -> MessageOut:
    """Save one send from sync code: through its process's group commit when this thread
    is a request thread of a running event loop (an HTTP view under daphne), so API and
    socket sends share batches; directly (a batch of one, the same rules) elsewhere.
    ChatError as the socket's."""
    if loops.request_thread_loop() is None:
        return message_post_one(request)
    saved: MessageOut = async_to_sync(_post_current)(request)
    return saved


async def _post_current(request: SendRequest) -> MessageOut:
    return await current().post(request)
