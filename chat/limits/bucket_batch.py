"""Token-bucket takes sent to Redis in batches: the sends of one process that arrive
while a round trip is in flight share the next one (a pipeline of the bucket script),
as the group-commit writer does for saves. One EVALSHA round trip per send cost the event
loop more than the script cost Redis (#13's profile of the write path).

Transport only: the bucket's arithmetic is the Lua script BUCKET_TAKE in
chat/limits/stores.py, whose RedisStore registers it and hands it in.
"""

import asyncio
import weakref
from collections import deque
from typing import Any

# Takes per pipeline: bounded, so one burst cannot build an unbounded request.
MAX_BATCH = 500

Take = tuple[str, int, float, "asyncio.Future[float]"]


class BucketTaker:
    """One per store; a queue per event loop (a future belongs to its loop)."""

    def __init__(self, redis: Any, script: Any, prefix: str) -> None:
        self.redis = redis
        self.script = script
        self.prefix = prefix
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, deque[Take]] = (
            weakref.WeakKeyDictionary()
        )
        self._flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary()
        )

    async def take(self, key: str, burst: int, rate: float) -> float:
        """Take one token from `key`'s bucket: 0 if taken, else the seconds to wait."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, deque())
        future: asyncio.Future[float] = loop.create_future()
        queue.append((key, burst, rate, future))
        flusher = self._flushers.get(loop)
        if flusher is None or flusher.done():
            self._flushers[loop] = loop.create_task(self._flush(queue))
        return await future

    async def _flush(self, queue: deque[Take]) -> None:
        while queue:
            batch = [queue.popleft() for _ in range(min(MAX_BATCH, len(queue)))]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, burst, rate, _ in batch:
                        await self.script(
                            keys=[f"{self.prefix}:rate:{key}"],
                            args=[burst, repr(float(rate))],
                            client=pipe,
                        )
                    results = await pipe.execute()
            except Exception as error:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (*_, future), (taken, wait) in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(0.0 if int(taken) == 1 else float(wait))
