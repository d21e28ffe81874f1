"""Lua scripts sent to Redis as EVALSHA in pipelines, and calls of them batched per
event loop: the calls a process makes while a round trip is in flight share the next
one, as the group-commit writer does for saves. One round trip per call cost the event
loop more than the scripts cost Redis (#13's write path: the message-rate bucket; #28's
connect: the connection caps and presence, ~0.3 ms of CPU each per connect).

Transport only: what the scripts do is their owners' (chat/limits, chat/presence).
"""

import asyncio
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

# Calls per pipeline: bounded, so one burst cannot build an unbounded request.
MAX_BATCH = 500

# Plain commands added to a pipeline after the scripts (their answers are dropped).
Then = Callable[[Pipeline], object]


@dataclass(frozen=True)
class ScriptCall:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]
    then: Then | None = None


async def scripts_pipelined(
    redis: Redis, calls: Sequence[ScriptCall], *, raise_on_error: bool = True
) -> list[Any]:
    """Run each call as EVALSHA in one pipeline: one round trip; a script's answer per
    call (with raise_on_error=False, a call's error in its place). redis-py sends
    SCRIPT EXISTS before every pipeline that holds scripts (a second round trip); here
    the scripts are loaded only when Redis answers NOSCRIPT (after its restart or a
    failover), and the pipeline is sent again (none of its scripts ran then)."""
    for attempt in range(2):
        async with redis.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
            for call in calls:
                if call.then is not None:
                    call.then(pipe)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        answers = results[: len(calls)]
        missing = [r for r in answers if isinstance(r, NoScriptError)]
        if not missing or attempt:
            if raise_on_error:
                for result in results:
                    if isinstance(result, Exception):
                        raise result
            return answers
        for script in {id(c.script): c.script for c in calls}.values():
            script.sha = await redis.script_load(script.script)
    raise AssertionError("unreachable")


Pending = tuple[ScriptCall, "asyncio.Future[Any]"]


class ScriptBatch:
    """One per store (its client); a queue per event loop (a future belongs to its
    loop). A call waits at most for the round trip in flight."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, deque[Pending]] = (
            weakref.WeakKeyDictionary()
        )
        self._flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary()
        )

    async def call(
        self,
        script: AsyncScript,
        keys: Sequence[str],
        args: Sequence[Any],
        then: Then | None = None,
    ) -> Any:
        """The script's answer; its error (or the round trip's) is raised here."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, deque())
        future: asyncio.Future[Any] = loop.create_future()
        queue.append((ScriptCall(script, keys, args, then), future))
        flusher = self._flushers.get(loop)
        if flusher is None or flusher.done():
            self._flushers[loop] = loop.create_task(self._flush(queue))
        return await future

    async def _flush(self, queue: deque[Pending]) -> None:
        while queue:
            batch = [queue.popleft() for _ in range(min(MAX_BATCH, len(queue)))]
            try:
                answers = await scripts_pipelined(
                    self.redis, [call for call, _ in batch], raise_on_error=False
                )
            except Exception as error:  # the round trip itself: every call of it fails
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
