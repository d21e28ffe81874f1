"""thread.state frames on their way to a process's connections. A service publishes a
user's new state in a thread (counted in the changing transaction); this process adds
the user's totals over the threads they follow (`threads`, as in hello) and sends the
frame to each of their connections here.

The totals are read here, not by the writer: they span every thread a user follows, so
counting them inside a batch of replies (the room's row locked) would cost in
proportion to each follower's threads. Here they cost one query per wake-up for every
local user waiting, on a read thread, and only for users connected to this process.
States wait in arrival order and leave in it; a burst is read once.
"""

import asyncio
import logging
from typing import Any

from chat import events
from chat.realtime import reads, wire
from chat.realtime.registry import Registry

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class ThreadStates:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.waiting: list[tuple[int, dict[str, Any]]] = []  # (user id, state), in order
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.outages = reads.OutageLog(logger, "thread totals")

    def offer(self, event: events.ThreadStatesEvent) -> None:
        """Queue the states of the users connected here (the others' are not ours)."""
        for user_id, states in event["states"].items():
            uid = int(user_id)
            if self.registry.by_user.get(uid):
                self.waiting.extend((uid, dict(state)) for state in states)
        if not self.waiting:
            return
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        self.wake.set()

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.waiting = self.waiting, []
            if not batch:
                continue
            try:
                totals = await reads.thread_totals(sorted({uid for uid, _ in batch}))
            except Exception as error:
                # The database is away: keep them (ahead of newer ones) and try again.
                self.outages.failed(error, "thread totals read failed; retrying")
                self.waiting = batch + self.waiting
                await asyncio.sleep(RETRY_SECONDS)
                self.wake.set()
                continue
            self.outages.ok()
            for uid, state in batch:
                await self._send(uid, {"type": "thread.state", **state, "threads": totals[uid]})

    async def _send(self, user_id: int, frame: dict[str, Any]) -> None:
        text = events.encode(frame)
        wire_frame = wire.text_frame(text)
        for conn in list(self.registry.by_user.get(user_id, ())):
            try:
                await conn.deliver_frame(None, text, wire_frame)
            except Exception:
                logger.exception("thread state to one connection failed")
