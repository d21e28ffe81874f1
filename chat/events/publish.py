"""The one publish verb: `publish_on_commit(publication)`. Services (and only they) call
it with an event built by chat/events/types.py; it leaves for the channel layer once the
transaction commits, so nobody sees a change that was rolled back (Zulip's rule).

Where it is sent from depends on the thread the commit happens in, never on the caller:
- a thread working for an event loop (asgiref's sync_to_async threads: channels'
  database thread, the read threads, Django's sync views under daphne): the event is
  handed to that loop's outbox and sent from the loop in order, so the database thread
  never waits on Redis;
- any other thread (a management command, a job runner, a sync test): sent before the
  commit hook returns.
Publishing is best effort: a failed publish is one warning, never a failed save; every
receiver catches up from the database by seq.
"""

import asyncio
import contextvars
import logging
import weakref
from collections import deque
from functools import partial
from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.dispatch import Signal

from chat.events.types import Publication
from chat.ops import loops, observability

logger = logging.getLogger("chat.events")


def publish_on_commit(publication: Publication) -> None:
    """Send the event once the current transaction commits (at once outside one).
    `robust`: a failing hook never undoes the commit nor stops the next hooks."""
    transaction.on_commit(partial(_dispatch, publication), robust=True)


async def published() -> None:
    """Wait until everything this event loop's outbox was handed so far has been sent
    (or failed). The group commit answers its sends after this, and a frame's service
    call returns after it, so "done" keeps meaning "published" for the caller."""
    outbox = _outboxes.get(asyncio.get_running_loop())
    if outbox is not None:
        await outbox.marker()


async def publish_now(publication: Publication) -> None:
    """Send an event that no transaction is about (presence, typing), from async code."""
    await layer_send(publication)


# Sent after commit with `items`: a list of NotifyItem, for messages someone may have to
# be notified of. The notify app listens (chat does not import it: one-way layers).
notify_requested = Signal()


class NotifyItem(TypedDict):
    message_id: int
    # Only these users (an edit's new mentions); None: whoever the levels ask for.
    users: list[int] | None


def notify_on_commit(items: list[NotifyItem]) -> None:
    """Ask for notifications about saved messages once the transaction commits."""
    if items:
        transaction.on_commit(lambda: notify_requested.send(None, items=items), robust=True)


# Sent INSIDE the saving transaction with `message_ids`: messages saved in rooms that an
# outgoing webhook watches (Room.outgoing_hooks). The integrations app queues its job in
# that same transaction, so a committed message always has its deliveries queued: a
# process killed right after the commit loses none. (chat does not import integrations.)
hooks_requested = Signal()


def hooks_request(message_ids: list[int]) -> None:
    """Hand saved messages to the outgoing webhooks, in the current transaction."""
    if message_ids:
        hooks_requested.send(None, message_ids=message_ids)


async def layer_send(publication: Publication) -> None:
    """The one place an event leaves for the channel layer (the fault tests make it fail
    here, or make Redis fail under it)."""
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is always configured in settings"  # noqa: S101
    try:
        await layer.group_send(publication.group, publication.event)
    except Exception as error:  # saved all the same: receivers catch up from the database
        observability.layer_failed("publish")
        logger.warning(
            "%s publish failed (%s: %s); receivers catch up from the database",
            publication.what,
            type(error).__name__,
            error,
        )


def _dispatch(publication: Publication) -> None:
    loop = loops.serving_loop()
    if loop is None:
        async_to_sync(layer_send)(publication)
    else:
        loop.call_soon_threadsafe(_enqueue, loop, publication)


class _Outbox:
    """A loop's publications in the order their transactions committed, sent one at a
    time by one task that runs while there is something to send."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: deque[Publication | asyncio.Future[None]] = deque()
        self._task: asyncio.Task[None] | None = None

    def put(self, item: Publication | asyncio.Future[None]) -> None:
        self._queue.append(item)
        if self._task is None or self._task.done():
            # A context of its own: the task must not inherit the context of whichever
            # request or frame happened to start it (asgiref routes sync calls by it).
            self._task = self._loop.create_task(self._drain(), context=contextvars.Context())

    def marker(self) -> "asyncio.Future[None]":
        done: asyncio.Future[None] = self._loop.create_future()
        self.put(done)
        return done

    async def _drain(self) -> None:
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_result(None)
                continue
            await layer_send(item)


_outboxes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox]" = (
    weakref.WeakKeyDictionary()
)


def _enqueue(loop: asyncio.AbstractEventLoop, publication: Publication) -> None:
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = _Outbox(loop)
    outbox.put(publication)
