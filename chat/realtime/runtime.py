"""Ties the realtime parts together, one set per event loop and channel layer (tests
swap both): the registry of connections exists at once; the hub and the periodic
jobs start with the first connection, fully built, behind `start()`."""

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer

from chat.realtime import shutdown
from chat.realtime.hub import Hub
from chat.realtime.registry import Registry
from chat.realtime.sync import Sync


@dataclass(frozen=True)
class Running:
    hub: Hub
    sync: Sync
    tasks: tuple["asyncio.Task[None]", ...]


class Runtime:
    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.registry = Registry()
        self._running: Running | None = None
        self._start_lock = asyncio.Lock()

    @property
    def shutting_down(self) -> bool:
        return self.registry.shutting_down

    @property
    def by_room(self) -> dict[int, Any]:
        return self.registry.by_room

    async def start(self) -> Running:
        """The hub and its jobs, started once. Locked: the first connections to a fresh
        process arrive together, and two hub channels would leave a room bound to one
        nobody reads."""
        running = self._running
        if running is None:
            async with self._start_lock:
                running = self._running
                if running is None:
                    hub = await Hub.start(self.layer, self.registry)
                    sync = Sync(hub, self.registry)
                    loop = asyncio.get_running_loop()
                    tasks = (
                        loop.create_task(hub.receive_forever()),
                        loop.create_task(sync.run_forever()),
                        loop.create_task(sync.maintain_presence_forever()),
                        loop.create_task(sync.check_sessions_forever()),
                    )
                    running = self._running = Running(hub, sync, tasks)
        return running

    async def hub(self) -> Hub:
        return (await self.start()).hub

    async def close_all(
        self, code: int, wait_seconds: float, drop: shutdown.Drop | None = None
    ) -> int:
        """The graceful stop (chat/realtime/shutdown.py); `drop` is the server's."""
        hub = self._running.hub if self._running is not None else None
        return await shutdown.close_all(self.registry, code, wait_seconds, drop=drop, hub=hub)


_runtimes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime]" = (
    weakref.WeakKeyDictionary()
)


def current() -> Runtime:
    """This process's realtime runtime (one per event loop and channel layer)."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    found = _runtimes.get(loop)
    if found is None or found.layer is not layer:
        found = _runtimes[loop] = Runtime(layer)
    return found
