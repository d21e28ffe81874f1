"""Where the abuse limits (chat/limits/policy.py) keep their state: in this process's memory
(one process: its own counts are the whole truth) or in Redis, shared by every process.
Token buckets, connection counts with an expiry each process refreshes, and the moving
windows (connection attempts: a script of ours in Redis; flooding: the `limits` library),
behind one `Store` interface the guard uses.
"""

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from chat.ops.redis_client import redis_client
from chat.ops.redis_scripts import ScriptBatch
from chat.presence.stores import presence_ttl_seconds

# KEYS[1]: hash {tokens, at}. ARGV: burst, refill per second. Returns {1, "0"} when a
# token was taken, else {0, "<seconds until one is there>"} (a string: Lua numbers come
# back from Redis truncated to integers).
BUCKET_TAKE = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, tostring(wait)}
"""

# A moving window of attempts: KEYS[1] is a list of the accepted attempts' times (ms,
# Redis clock), newest first. ARGV: the most attempts, the window in ms. Returns 1 when
# this attempt is within the limit (and counted), else 0 (not counted), as the `limits`
# library's moving window does.
_ATTEMPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local most = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local oldest = redis.call('LINDEX', KEYS[1], most - 1)
if oldest and tonumber(oldest) > now - window then return 0 end
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, most - 1)
redis.call('PEXPIRE', KEYS[1], window)
return 1
"""

# Per identity (a user, an address) two keys: a zset of process -> expiry (ms, Redis
# clock) and a hash of process -> open connections. KEYS: those pairs; ARGV[1]: this
# process, ARGV[2]: entry TTL in ms, ARGV[3..]: each identity's cap. Expired processes'
# counts are dropped first. Returns 0 (admitted, every count + 1) or the 1-based index
# of the first identity at its cap (nothing counted).
_ADMIT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS, 2 do
  for _, process in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now)) do
    redis.call('ZREM', KEYS[i], process)
    redis.call('HDEL', KEYS[i + 1], process)
  end
  local total = 0
  for _, n in ipairs(redis.call('HVALS', KEYS[i + 1])) do total = total + tonumber(n) end
  if total >= tonumber(ARGV[3 + (i - 1) / 2]) then return (i + 1) / 2 end
end
for i = 1, #KEYS, 2 do
  redis.call('HINCRBY', KEYS[i + 1], ARGV[1], 1)
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl)
  redis.call('PEXPIRE', KEYS[i + 1], ttl)
end
return 0
"""
_RELEASE = """
for i = 1, #KEYS, 2 do
  if redis.call('HINCRBY', KEYS[i + 1], ARGV[1], -tonumber(ARGV[2 + (i - 1) / 2])) <= 0 then
    redis.call('HDEL', KEYS[i + 1], ARGV[1])
    redis.call('ZREM', KEYS[i], ARGV[1])
  end
end
return 0
"""
# Push back this process's expiry for one identity; ARGV[3] is its local count, written
# only if a sweep removed the entry while this process stalled.
_REFRESH = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 0
"""


class Store(Protocol):
    windows: MovingWindowRateLimiter

    async def take_token(self, key: str, burst: int, rate: float) -> float: ...
    async def attempt(self, key: str, most: int, seconds: int) -> bool: ...
    async def admit(self, caps: list[tuple[str, int]]) -> int: ...
    async def release(self, counts: dict[str, int]) -> None: ...
    async def refresh(self, counts: dict[str, int]) -> None: ...


# Seconds from any fixed point, never going back. Tests pass a clock they move by hand,
# so that waiting out a refill costs no real time.
Clock = Callable[[], float]


class MemoryStore:
    """One process: its own counts are the whole truth."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.windows = MovingWindowRateLimiter(MemoryStorage())
        self.buckets: dict[str, tuple[float, float]] = {}
        self.open: Counter[str] = Counter()

    async def take_token(self, key: str, burst: int, rate: float) -> float:
        now = self.clock()
        tokens, at = self.buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        self.buckets[key] = (tokens, now)
        if len(self.buckets) > 10_000:  # forget users whose bucket has refilled
            full = burst / rate
            for old, (_, seen) in list(self.buckets.items()):
                if now - seen > full:
                    del self.buckets[old]
        return wait

    async def attempt(self, key: str, most: int, seconds: int) -> bool:
        return await self.windows.hit(RateLimitItemPerSecond(most, seconds), "attempt", key)

    async def admit(self, caps: list[tuple[str, int]]) -> int:
        for index, (key, cap) in enumerate(caps, start=1):
            if self.open[key] >= cap:
                return index
        for key, _ in caps:
            self.open[key] += 1
        return 0

    async def release(self, counts: dict[str, int]) -> None:
        for key, count in counts.items():
            self.open[key] -= count
            if self.open[key] <= 0:
                del self.open[key]

    async def refresh(self, counts: dict[str, int]) -> None:
        return None


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        self.redis = redis_client(url)
        self.prefix = f"{prefix}:limits"
        self.process = uuid.uuid4().hex[:12]
        # limits' storage shares this client's pool (one pool per process, redis-py).
        self.windows = MovingWindowRateLimiter(
            RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=self.prefix,
                # Documented by limits (popped before its client is built), though its
                # type hints only allow scalar options.
                connection_pool=self.redis.connection_pool,  # type: ignore[arg-type]
            )
        )
        # Bucket takes, admissions and releases of concurrent sends and connects share
        # a round trip (chat/ops/redis_scripts.py).
        self._batch = ScriptBatch(self.redis)
        self._take = self.redis.register_script(BUCKET_TAKE)
        self._attempt = self.redis.register_script(_ATTEMPT)
        self._admit = self.redis.register_script(_ADMIT)
        self._release = self.redis.register_script(_RELEASE)
        self._refresh = self.redis.register_script(_REFRESH)

    def _pair(self, key: str) -> list[str]:
        base = f"{self.prefix}:open:{key}"
        return [base, f"{base}:count"]

    @staticmethod
    def _ttl_ms() -> int:
        return int(presence_ttl_seconds() * 1000)

    async def take_token(self, key: str, burst: int, rate: float) -> float:
        keys, args = [f"{self.prefix}:rate:{key}"], [burst, repr(float(rate))]
        taken, wait = await self._batch.call(self._take, keys, args)
        return 0.0 if int(taken) == 1 else float(wait)

    async def attempt(self, key: str, most: int, seconds: int) -> bool:
        """One more attempt of `key` within its moving window of `seconds`, if fewer
        than `most` were made in it: batched with the connects' admissions."""
        keys = [f"{self.prefix}:attempts:{key}"]
        return int(await self._batch.call(self._attempt, keys, [most, seconds * 1000])) == 1

    async def admit(self, caps: list[tuple[str, int]]) -> int:
        keys = [name for key, _ in caps for name in self._pair(key)]
        args: list[str | int] = [self.process, self._ttl_ms(), *(cap for _, cap in caps)]
        return int(await self._batch.call(self._admit, keys, args))

    async def release(self, counts: dict[str, int]) -> None:
        """Take `count` connections off each identity's count for this process."""
        await self._batch.call(
            self._release,
            [name for key in counts for name in self._pair(key)],
            [self.process, *counts.values()],
        )

    async def refresh(self, counts: dict[str, int]) -> None:
        if not counts:
            return
        ttl = self._ttl_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, count in counts.items():
                await self._refresh(
                    keys=self._pair(key), args=[self.process, ttl, count], client=pipe
                )
            await pipe.execute()
