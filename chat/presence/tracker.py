"""The per-process presence tracker: counts this process's connections per (room, user),
tells the store only first arrivals and last departures, and batches the presence frames
it publishes. Reads and writes presence only through a store (stores.py)."""

import asyncio
import logging
from collections import Counter, defaultdict

from django.conf import settings

from chat import events
from chat.presence.stores import MemoryStore, PresenceStore, RedisStore

logger = logging.getLogger(__name__)


class Presence:
    """One per process (the realtime hub owns it)."""

    def __init__(self, store: PresenceStore) -> None:
        self.store = store
        self.local: dict[int, Counter[str]] = defaultdict(Counter)
        # Changes waiting for the next batch: room -> user -> online? (the last change
        # wins). Every frame goes to every connection of the room, so a mass (re)connect
        # of N users costs N frames per connection unbatched, a few batched.
        self.pending: dict[int, dict[str, bool]] = {}
        self.flusher: asyncio.Task[None] | None = None
        self.slugs: dict[int, str] = {}  # every frame names its room (docs/protocol.md)

    async def connected(self, room_id: int, username: str, slug: str = "") -> None:
        await self.connected_many({room_id: slug}, username)

    async def disconnected(self, room_id: int, username: str) -> None:
        await self.disconnected_many([room_id], username)

    async def connected_many(self, rooms: dict[int, str], username: str) -> None:
        """The user's connection arrived in these rooms (id -> slug): one store round
        trip for all of them, however many."""
        first, new_slugs = [], {}
        for room_id, slug in rooms.items():
            if slug and self.slugs.get(room_id) != slug:
                self.slugs[room_id] = new_slugs[room_id] = slug
            counts = self.local[room_id]
            counts[username] += 1
            if counts[username] == 1:
                first.append(room_id)
        for room_id in await self.store.arrive_many(first, username, new_slugs):
            await self._announce(room_id, [username], online=True)

    async def disconnected_many(self, room_ids: list[int], username: str) -> None:
        """disconnected() from every room, with one store round trip for all of them."""
        last = []
        for room_id in room_ids:
            counts = self.local.get(room_id)
            if counts is None or counts[username] <= 0:
                continue
            counts[username] -= 1
            if counts[username] == 0:
                del counts[username]
                if not counts:
                    del self.local[room_id]
                last.append(room_id)
        for room_id in await self.store.depart_many(last, username):
            await self._announce(room_id, [username], online=False)

    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]:
        return await self.store.online(room_id, limit)

    async def maintain(self) -> None:
        """Refresh this process's entries, then sweep every process's expired ones."""
        entries = [(room_id, user) for room_id, users in self.local.items() for user in users]
        for room_id, user in await self.store.refresh(entries):
            await self._announce(room_id, [user], online=True)
        for room_id, users in (await self.store.sweep()).items():
            if room_id not in self.slugs:  # nobody here is in that room: ask the store
                slug = await self.store.slug(room_id)
                if slug is not None:
                    self.slugs[room_id] = slug
            await self._announce(room_id, users, online=False)

    async def _announce(self, room_id: int, users: list[str], *, online: bool) -> None:
        delay = settings.CHAT_PRESENCE_BATCH_SECONDS
        if delay <= 0:
            await self._publish(room_id, {user: online for user in users})
            return
        self.pending.setdefault(room_id, {}).update((user, online) for user in users)
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.get_running_loop().create_task(self._flush_after(delay))

    async def _flush_after(self, delay: float) -> None:
        # Loop until nothing is pending: a change announced while this task awaits a
        # publish finds it not done and starts no flusher of its own, so it is ours.
        while self.pending:
            await asyncio.sleep(delay)
            pending, self.pending = self.pending, {}
            # The counts of every room of the batch in one round trip, then a publish each.
            rooms = list(pending)
            counts: list[int | None]
            try:
                counts = list(await self.store.counts(rooms))
            except Exception:  # Redis down: the publishes fail too, and hello sets it right
                logger.warning("presence counts failed rooms=%d", len(rooms))
                counts = [None] * len(rooms)
            for room_id, count in zip(rooms, counts, strict=True):
                await _publish(room_id, self.slugs.get(room_id, ""), pending[room_id], count)

    async def _publish(self, room_id: int, changes: dict[str, bool]) -> None:
        # The count read now, not kept from joins and leaves: a page that was given only a
        # sample of names cannot tell a join it already counted from a new one.
        try:
            count: int | None = await self.store.count(room_id)
        except Exception:  # Redis down: the publish fails too, and hello sets it right
            logger.warning("presence count failed room_id=%s", room_id)
            count = None
        await _publish(room_id, self.slugs.get(room_id, ""), changes, count)


def presence_for_process() -> Presence:
    if settings.REDIS_URL:
        return Presence(RedisStore(settings.REDIS_URL, settings.CHAT_LAYER_PREFIX))
    return Presence(MemoryStore())


async def _publish(room_id: int, slug: str, changes: dict[str, bool], count: int | None) -> None:
    joined = sorted(user for user, online in changes.items() if online)
    left = sorted(user for user, online in changes.items() if not online)
    frame: dict[str, object] = {"type": "presence", "room": slug, "joined": joined, "left": left}
    if count is not None:
        frame["online_count"] = count
    await events.publish_now(events.room_frame(room_id, frame))
