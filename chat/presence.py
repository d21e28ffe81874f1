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
import logging
import time
import uuid
from collections import Counter, defaultdict
from typing import Protocol, cast

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
    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]: ...
    async def count(self, room_id: int) -> int: ...
    async def refresh(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]: ...
    async def sweep(self) -> dict[int, list[str]]: ...


class MemoryStore:
    """One process: its own counts are the whole truth."""

    def __init__(self) -> None:
        self.users: dict[int, set[str]] = defaultdict(set)

    async def arrive(self, room_id: int, username: str) -> bool:
        self.users[room_id].add(username)
        return True

    async def depart(self, room_id: int, username: str) -> bool:
        self.users[room_id].discard(username)
        if not self.users[room_id]:
            del self.users[room_id]
        return True

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
    """One per process (the delivery hub owns it)."""

    def __init__(self, store: PresenceStore) -> None:
        self.store = store
        self.local: dict[int, Counter[str]] = defaultdict(Counter)
        # Changes waiting for the next batch: room -> user -> online? (the last change
        # wins). Every frame goes to every connection of the room, so a mass (re)connect
        # of N users costs N frames per connection unbatched, a few batched.
        self.pending: dict[int, dict[str, bool]] = {}
        self.flusher: asyncio.Task[None] | None = None

    async def connected(self, room_id: int, username: str) -> None:
        counts = self.local[room_id]
        counts[username] += 1
        if counts[username] == 1 and await self.store.arrive(room_id, username):
            await self._announce(room_id, [username], online=True)

    async def disconnected(self, room_id: int, username: str) -> None:
        counts = self.local.get(room_id)
        if counts is None or counts[username] <= 0:
            return
        counts[username] -= 1
        if counts[username] == 0:
            del counts[username]
            if not counts:
                del self.local[room_id]
            if await self.store.depart(room_id, username):
                await self._announce(room_id, [username], online=False)

    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]:
        return await self.store.online(room_id, limit)

    async def maintain(self) -> None:
        """Refresh this process's entries, then sweep every process's expired ones."""
        entries = [(room_id, user) for room_id, users in self.local.items() for user in users]
        for room_id, user in await self.store.refresh(entries):
            await self._announce(room_id, [user], online=True)
        for room_id, users in (await self.store.sweep()).items():
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
        await _publish(room_id, changes, count)


def presence_ttl_seconds() -> float:
    # Refreshed every quarter of the timeout and swept as often: an entry outlives its
    # process by at most TTL + one interval = the promised timeout.
    return 0.75 * settings.CHAT_PRESENCE_TIMEOUT_SECONDS


def maintain_interval_seconds() -> float:
    return 0.25 * settings.CHAT_PRESENCE_TIMEOUT_SECONDS


async def _publish(room_id: int, changes: dict[str, bool], count: int | None) -> None:
    joined = sorted(user for user, online in changes.items() if online)
    left = sorted(user for user, online in changes.items() if not online)
    frame: dict[str, object] = {"type": "presence", "joined": joined, "left": left}
    if count is not None:
        frame["online_count"] = count
    await events.publish_frame(room_id, frame)


def presence_for_process() -> Presence:
    if settings.REDIS_URL:
        return Presence(RedisStore(settings.REDIS_URL, settings.CHAT_LAYER_PREFIX))
    return Presence(MemoryStore())


async def typing_announce(*, room_id: int, username: str) -> None:
    await events.publish_frame(room_id, {"type": "typing", "user": username}, exclude_user=username)
