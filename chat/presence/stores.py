"""Where presence lives: in Redis (shared by every process) or in one process's memory.
Stores answer and change counts; they never publish (the tracker announces)."""

import time
import uuid
import weakref
from collections import defaultdict
from typing import Protocol, cast

from django.conf import settings
from redis.asyncio.client import Pipeline

from chat.ops.redis_client import redis_client
from chat.ops.redis_scripts import ScriptBatch, ScriptCall, scripts_pipelined
from chat.presence import keys, scripts


def presence_ttl_seconds() -> float:
    # Refreshed every quarter of the timeout and swept as often: an entry outlives its
    # process by at most TTL + one interval = the promised timeout.
    return 0.75 * settings.CHAT_PRESENCE_TIMEOUT_SECONDS


def maintain_interval_seconds() -> float:
    return 0.25 * settings.CHAT_PRESENCE_TIMEOUT_SECONDS


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
    async def counts(self, room_ids: list[int]) -> list[int]: ...
    async def refresh(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]: ...
    async def sweep(self) -> dict[int, list[str]]: ...


class MemoryStore:
    """One process: its own counts are the whole truth."""

    def __init__(self) -> None:
        self.users: dict[int, set[str]] = defaultdict(set)
        memory_stores.add(self)

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

    async def counts(self, room_ids: list[int]) -> list[int]:
        return [len(self.users.get(room_id, ())) for room_id in room_ids]

    async def refresh(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        return []

    async def sweep(self) -> dict[int, list[str]]:
        return {}


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        self.redis = redis_client(url)
        self.prefix = prefix
        self.process = uuid.uuid4().hex[:12]
        self.rooms_key = keys.rooms_key(prefix)
        self.slugs_key = keys.slugs_key(prefix)
        self._arrive = self.redis.register_script(scripts.ARRIVE)
        self._depart = self.redis.register_script(scripts.DEPART)
        self._sweep = self.redis.register_script(scripts.SWEEP)
        self._arrive_many = self.redis.register_script(scripts.ARRIVE_MANY)
        self._depart_many = self.redis.register_script(scripts.DEPART_MANY)
        # The arrivals and departures of concurrent connects and closes share a round
        # trip (chat/ops/redis_scripts.py).
        self._batch = ScriptBatch(self.redis)

    def _keys(self, room_id: int) -> list[str]:
        return keys.script_keys(self.prefix, room_id)

    def _many_keys(self, room_ids: list[int]) -> list[str]:
        """KEYS of ARRIVE_MANY and DEPART_MANY: the rooms set, then each room's pair."""
        found = [self.rooms_key]
        for room_id in room_ids:
            found.extend(self._keys(room_id)[:2])
        return found

    def _expiry(self) -> float:
        return time.time() + presence_ttl_seconds()

    async def arrive(self, room_id: int, username: str) -> bool:
        count = await self._arrive(
            keys=self._keys(room_id),
            args=[keys.entry_member(username, self.process), self._expiry(), room_id, username],
        )
        return int(count) == 1

    async def depart(self, room_id: int, username: str) -> bool:
        left = await self._depart(
            keys=self._keys(room_id),
            args=[keys.entry_member(username, self.process), username, room_id],
        )
        return int(left) == 0

    async def arrive_many(
        self, room_ids: list[int], username: str, slugs: dict[int, str] | None = None
    ) -> list[int]:
        """arrive() in every room, in one round trip and one script: the rooms where
        the user is now online and was not before."""
        if not room_ids:
            return []
        expiry, member = self._expiry(), keys.entry_member(username, self.process)
        new = slugs or {}

        def slugs_set(pipe: Pipeline) -> object:
            return pipe.hset(self.slugs_key, mapping={str(k): v for k, v in new.items()})

        counts = await self._batch.call(
            self._arrive_many,
            self._many_keys(room_ids),
            [member, expiry, username, *room_ids],
            slugs_set if new else None,
        )
        return [room_id for room_id, n in zip(room_ids, counts, strict=True) if int(n) == 1]

    async def slug(self, room_id: int) -> str | None:
        found = await self.redis.hget(self.slugs_key, str(room_id))
        return None if found is None else str(found)

    async def depart_many(self, room_ids: list[int], username: str) -> list[int]:
        """depart() from every room in one round trip and one script: the rooms the
        user left."""
        if not room_ids:
            return []
        member = keys.entry_member(username, self.process)
        lefts = await self._batch.call(
            self._depart_many, self._many_keys(room_ids), [member, username, *room_ids]
        )
        return [room_id for room_id, n in zip(room_ids, lefts, strict=True) if int(n) == 0]

    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]:
        """Up to `limit` of the room's online users (a random sample in a bigger room),
        and how many there are in all."""
        key = keys.room_users_key(self.prefix, room_id)
        total = int(await self.redis.hlen(key))
        if total <= limit:
            names: list[bytes | str] = await self.redis.hkeys(key)
        else:  # a random sample: a big room's hello costs what a small one's does
            names = cast("list[bytes | str]", await self.redis.hrandfield(key, limit))
        found = sorted(str(user) for user in names)
        return found[:limit], max(total, len(found))

    async def count(self, room_id: int) -> int:
        return int(await self.redis.hlen(keys.room_users_key(self.prefix, room_id)))

    async def counts(self, room_ids: list[int]) -> list[int]:
        """count() of each room, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hlen(keys.room_users_key(self.prefix, room_id))
            return [int(n) for n in await pipe.execute()]

    async def refresh(self, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
        """Push back the expiry of this process's entries. Returns the ones that had been
        swept meanwhile (this process stalled past the TTL) and so came back online."""
        if not entries:
            return []
        expiry = self._expiry()
        # One ARRIVE_MANY per user (not one ARRIVE per room and user): a process holding
        # 1,000 users in 20 rooms each sends 1,000 scripts every interval, not 20,000.
        by_user: dict[str, list[int]] = defaultdict(list)
        for room_id, username in entries:
            by_user[username].append(room_id)
        calls = [
            ScriptCall(
                self._arrive_many,
                self._many_keys(room_ids),
                [keys.entry_member(username, self.process), expiry, username, *room_ids],
            )
            for username, room_ids in by_user.items()
        ]
        results = await scripts_pipelined(self.redis, calls)
        back = []
        for (username, room_ids), counts in zip(by_user.items(), results, strict=True):
            back += [(r, username) for r, n in zip(room_ids, counts, strict=True) if int(n) == 1]
        return back

    async def sweep(self) -> dict[int, list[str]]:
        gone: dict[int, list[str]] = {}
        for room in await self.redis.smembers(self.rooms_key):
            room_id = int(room)
            users = await self._sweep(keys=self._keys(room_id), args=[time.time(), room_id])
            if users:
                gone[room_id] = list(users)
        return gone


# Every MemoryStore of this process (one per event loop that serves connections), so
# that sync code (a service resolving @here) can read who is online.
memory_stores: "weakref.WeakSet[MemoryStore]" = weakref.WeakSet()
