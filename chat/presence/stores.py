"""Who is online in each room, across processes, without ghosts.

A user is online in a room while at least one of their connections, on any process,
is open. Each process counts its own connections per (room, user) and tells a shared
store only about the first arrival and the last departure, so a second tab is
silent. With Redis each process's entry carries an expiry it keeps refreshing; the
entries of a process that died without cleanup expire, and the next sweep (any
process) removes them and announces who left. Without Redis one process is all there
is and the store is a dictionary.

Service layer: keeps the rules and publishes presence events; consumers call it.
"""

import asyncio
import functools
import logging
import time
import uuid
import weakref
from collections import Counter, defaultdict
from typing import Protocol, cast

import redis
from django.conf import settings

from chat import events
from chat.redis_client import redis_client

logger = logging.getLogger(__name__)

# KEYS: zset of "user|process" -> expiry, hash user -> live entry count, set of rooms.
_ARRIVE = """
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
if added == 1 then
  return redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
end
return 0
"""
_DEPART = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then
  local left = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
  if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
  return left
end
return -1
"""
_SWEEP = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local gone = {}
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[1], member)
  local user = string.match(member, '^(.*)|[^|]*$')
  if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
    redis.call('HDEL', KEYS[2], user)
    table.insert(gone, user)
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return gone
"""


class PresenceStore(Protocol):
    async def arrive(self, room_id: int, username: str) -> bool: ...
    async def depart(self, room_id: int, username: str) -> bool: ...
    async def arrive_many(
        self, room_ids: list[int], username: str, slugs: dict[int, str] | None = None
    ) -> list[int]: ...
    async def slug(self, room_id: int) -> str | None: ...
    async def depart_many(self, room_ids: list[int], username: str) -> list[int]: ...
    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]: ...
    async def count(self, room_id: int) -> int: ...
    async def refresh(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]: ...
    async def sweep(self) -> dict[int, list[str]]: ...


class MemoryStore:
    """One process: its own counts are the whole truth."""

    def __init__(self) -> None:
        self.users: dict[int, set[str]] = defaultdict(set)
        _memory_stores.add(self)

    async def arrive(self, room_id: int, username: str) -> bool:
        self.users[room_id].add(username)
        return True

    async def depart(self, room_id: int, username: str) -> bool:
        self.users[room_id].discard(username)
        if not self.users[room_id]:
            del self.users[room_id]
        return True

    async def arrive_many(
        self, room_ids: list[int], username: str, slugs: dict[int, str] | None = None
    ) -> list[int]:
        return [room_id for room_id in room_ids if await self.arrive(room_id, username)]

    async def slug(self, room_id: int) -> str | None:
        return None  # one process: Presence knows every slug itself

    async def depart_many(self, room_ids: list[int], username: str) -> list[int]:
        return [room_id for room_id in room_ids if await self.depart(room_id, username)]

    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]:
        users = self.users.get(room_id, set())
        return sorted(users)[:limit], len(users)

    async def count(self, room_id: int) -> int:
        return len(self.users.get(room_id, ()))

    async def refresh(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        return []

    async def sweep(self) -> dict[int, list[str]]:
        return {}


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        self.redis = redis_client(url)
        self.prefix = prefix
        self.process = uuid.uuid4().hex[:12]
        self.rooms_key = f"{prefix}:presence:rooms"
        # room id -> slug, so that any process can name the room in a sweep's frame
        self.slugs_key = f"{prefix}:presence:slugs"
        self._arrive = self.redis.register_script(_ARRIVE)
        self._depart = self.redis.register_script(_DEPART)
        self._sweep = self.redis.register_script(_SWEEP)

    def _keys(self, room_id: int) -> list[str]:
        base = f"{self.prefix}:presence:{room_id}"
        return [base, f"{base}:users", self.rooms_key]

    def _expiry(self) -> float:
        return time.time() + presence_ttl_seconds()

    async def arrive(self, room_id: int, username: str) -> bool:
        count = await self._arrive(
            keys=self._keys(room_id),
            args=[f"{username}|{self.process}", self._expiry(), room_id, username],
        )
        return int(count) == 1

    async def depart(self, room_id: int, username: str) -> bool:
        left = await self._depart(
            keys=self._keys(room_id), args=[f"{username}|{self.process}", username, room_id]
        )
        return int(left) == 0

    async def arrive_many(
        self, room_ids: list[int], username: str, slugs: dict[int, str] | None = None
    ) -> list[int]:
        """arrive() in every room, in one round trip (a pipeline): the rooms where the
        user is now online and was not before."""
        if not room_ids:
            return []
        expiry, member = self._expiry(), f"{username}|{self.process}"
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                await self._arrive(
                    keys=self._keys(room_id), args=[member, expiry, room_id, username], client=pipe
                )
            if slugs:
                pipe.hset(self.slugs_key, mapping={str(k): v for k, v in slugs.items()})
            results = await pipe.execute()
        counts = results[: len(room_ids)]
        return [room_id for room_id, n in zip(room_ids, counts, strict=True) if int(n) == 1]

    async def slug(self, room_id: int) -> str | None:
        found = await self.redis.hget(self.slugs_key, str(room_id))
        return None if found is None else str(found)

    async def depart_many(self, room_ids: list[int], username: str) -> list[int]:
        """depart() from every room in one round trip: the rooms the user left."""
        if not room_ids:
            return []
        member = f"{username}|{self.process}"
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                await self._depart(
                    keys=self._keys(room_id), args=[member, username, room_id], client=pipe
                )
            lefts = await pipe.execute()
        return [room_id for room_id, n in zip(room_ids, lefts, strict=True) if int(n) == 0]

    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]:
        """Up to `limit` of the room's online users (a random sample in a bigger room),
        and how many there are in all."""
        key = self._keys(room_id)[1]
        total = int(await self.redis.hlen(key))
        if total <= limit:
            names: list[bytes | str] = await self.redis.hkeys(key)
        else:  # a random sample: a big room's hello costs what a small one's does
            names = cast("list[bytes | str]", await self.redis.hrandfield(key, limit))
        found = sorted(str(user) for user in names)
        return found[:limit], max(total, len(found))

    async def count(self, room_id: int) -> int:
        return int(await self.redis.hlen(self._keys(room_id)[1]))

    async def refresh(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Push back the expiry of this process's entries. Returns the ones that had been
        swept meanwhile (this process stalled past the TTL) and so came back online."""
        if not entries:
            return []
        expiry = self._expiry()
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id, username in entries:
                await self._arrive(
                    keys=self._keys(room_id),
                    args=[f"{username}|{self.process}", expiry, room_id, username],
                    client=pipe,
                )
            counts = await pipe.execute()
        return [entry for entry, count in zip(entries, counts, strict=True) if int(count) == 1]

    async def sweep(self) -> dict[int, list[str]]:
        gone: dict[int, list[str]] = {}
        for room in await self.redis.smembers(self.rooms_key):
            room_id = int(room)
            users = await self._sweep(keys=self._keys(room_id), args=[time.time(), room_id])
            if users:
                gone[room_id] = list(users)
        return gone


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
            for room_id, changes in pending.items():
                await self._publish(room_id, changes)

    async def _publish(self, room_id: int, changes: dict[str, bool]) -> None:
        # The count read now, not kept from joins and leaves: a page that was given only a
        # sample of names cannot tell a join it already counted from a new one.
        try:
            count: int | None = await self.store.count(room_id)
        except Exception:  # Redis down: the publish fails too, and hello sets it right
            logger.warning("presence count failed room_id=%s", room_id)
            count = None
        await _publish(room_id, self.slugs.get(room_id, ""), changes, count)


def presence_ttl_seconds() -> float:
    # Refreshed every quarter of the timeout and swept as often: an entry outlives its
    # process by at most TTL + one interval = the promised timeout.
    return 0.75 * settings.CHAT_PRESENCE_TIMEOUT_SECONDS


def maintain_interval_seconds() -> float:
    return 0.25 * settings.CHAT_PRESENCE_TIMEOUT_SECONDS


async def _publish(room_id: int, slug: str, changes: dict[str, bool], count: int | None) -> None:
    joined = sorted(user for user, online in changes.items() if online)
    left = sorted(user for user, online in changes.items() if not online)
    frame: dict[str, object] = {"type": "presence", "room": slug, "joined": joined, "left": left}
    if count is not None:
        frame["online_count"] = count
    await events.publish_frame(room_id, frame)


# Every MemoryStore of this process (one per event loop that serves connections), so
# that sync code (a service resolving @here) can read who is online.
_memory_stores: "weakref.WeakSet[MemoryStore]" = weakref.WeakSet()


def online_usernames(room_id: int) -> set[str]:
    """Who is online in the room now, on every process, from sync code (a database
    thread): one Redis read, or this process's own stores without Redis."""
    if settings.REDIS_URL:
        key = f"{settings.CHAT_LAYER_PREFIX}:presence:{room_id}:users"
        return {str(name) for name in _sync_redis(settings.REDIS_URL).hkeys(key)}
    found: set[str] = set()
    for store in list(_memory_stores):
        found.update(store.users.get(room_id, ()))
    return found


@functools.cache
def _sync_redis(url: str) -> "redis.Redis":
    return redis.Redis.from_url(
        url, socket_connect_timeout=5, socket_timeout=5, decode_responses=True
    )


def presence_for_process() -> Presence:
    if settings.REDIS_URL:
        return Presence(RedisStore(settings.REDIS_URL, settings.CHAT_LAYER_PREFIX))
    return Presence(MemoryStore())


async def typing_announce(*, room_id: int, slug: str, username: str) -> None:
    frame = {"type": "typing", "room": slug, "user": username}
    await events.publish_frame(room_id, frame, exclude_user=username)
