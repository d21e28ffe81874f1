"""Abuse limits: how fast a user may send, how many sockets a user or an address may
hold open, how often an address may connect, and how big a frame may be.

Every limit is a setting (README "Configuration"; zero turns one off). With REDIS_URL
set the state is shared by every process, so a flood spread over several connections
on several processes meets the same limit; without it, one process is all there is
and the state is in memory.

- Message rate: a token bucket per user (CHAT_MESSAGE_BURST at once, refilled at
  CHAT_MESSAGE_RATE_PER_SECOND). In Redis it is one small Lua script timed by the
  Redis clock; `limits` (used below for the windows) offers no token bucket.
- Flooding, connection attempts: moving windows from the `limits` library.
- Open connections: like presence (chat/presence.py), each process keeps its own count
  per user and per address in Redis, with an expiry it refreshes; a killed process's
  counts expire instead of leaking.

If Redis fails, a limit lets the action through (logged): the chat stays usable and
the channel layer, which needs the same Redis, reports the outage anyway.

Transport-side policy: consumers call it; it touches no database.
"""

import asyncio
import contextlib
import ipaddress
import logging
import time
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import NotRequired, Protocol

from django.conf import settings
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from chat import observability, presence
from chat.bucket_batch import BucketTaker
from chat.errors import ChatError, ErrorFrame
from chat.redis_client import redis_client

logger = logging.getLogger(__name__)

CLOSE_TOO_MANY = 4429  # rate or connection limit: docs/protocol.md
RELEASE_RETRY_FIRST_SECONDS = 0.5  # a cap release Redis missed is tried again after this,
RELEASE_RETRY_MAX_SECONDS = 15.0  # ... doubling up to this while it keeps failing


class RateLimitedFrame(ErrorFrame):
    retry_after: NotRequired[float]


class RateLimited(ChatError):
    """A message.send over the user's rate; `flooding` when the socket is to close."""

    def __init__(self, retry_after: float, *, flooding: bool = False) -> None:
        self.retry_after = round(max(retry_after, 0.001), 3)
        super().__init__("rate_limited", f"Too many messages; try again in {self.retry_after:g} s.")
        self.flooding = flooding

    def as_frame(self, client_id: str | None = None) -> RateLimitedFrame:
        frame: RateLimitedFrame = {**super().as_frame(client_id), "retry_after": self.retry_after}
        return frame


def frame_check(text_data: str | None, bytes_data: bytes | None) -> None:
    """Raise frame_too_large for a frame over CHAT_MAX_FRAME_BYTES (daphne refuses those
    itself with 1009; this covers any other server and the tests)."""
    limit = settings.CHAT_MAX_FRAME_BYTES
    if limit <= 0:
        return
    if text_data is not None:
        # Each character is 1 to 4 bytes of UTF-8: encode only when it could matter.
        size = len(text_data)
        if size * 4 > limit and size <= limit:
            size = len(text_data.encode("utf-8", "surrogatepass"))
    else:
        size = len(bytes_data or b"")
    if size > limit:
        raise ChatError("frame_too_large", f"A frame can have at most {limit} bytes.")


# --- who is connecting ----------------------------------------------------------------


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(peer: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(
        peer in ipaddress.ip_network(proxy, strict=False) for proxy in settings.CHAT_TRUSTED_PROXIES
    )


def client_ip(scope: dict[str, object]) -> str | None:
    """The client's address: the peer, or the last X-Forwarded-For hop when the peer is
    one of CHAT_TRUSTED_PROXIES (a client can write anything in that header, so earlier
    hops and untrusted peers' headers are never believed). None when unknown (a Unix
    socket); such connections are not limited per address."""
    client = scope.get("client")
    if not isinstance(client, list | tuple) or not client or not isinstance(client[0], str):
        return None
    peer = _address(client[0])
    if peer is None:
        return client[0] or None
    if settings.CHAT_TRUSTED_PROXIES and _trusted(peer):
        headers = scope.get("headers")
        hops = [
            hop
            for name, value in (headers if isinstance(headers, list) else [])
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
        ]
        if hops and (forwarded := _address(hops[-1])) is not None:
            peer = forwarded
    return str(peer)


def address_key(ip: str) -> str:
    """What an address is counted as: itself, or its /64 for IPv6 (one subscriber
    usually holds a whole /64)."""
    address = _address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return ip


# --- stores ---------------------------------------------------------------------------

# KEYS[1]: hash {tokens, at}. ARGV: burst, refill per second. Returns {1, "0"} when a
# token was taken, else {0, "<seconds until one is there>"} (a string: Lua numbers come
# back from Redis truncated to integers).
_BUCKET_TAKE = """
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
    async def admit(self, caps: list[tuple[str, int]]) -> int: ...
    async def release(self, counts: dict[str, int]) -> None: ...
    async def refresh(self, counts: dict[str, int]) -> None: ...


class MemoryStore:
    """One process: its own counts are the whole truth."""

    def __init__(self) -> None:
        self.windows = MovingWindowRateLimiter(MemoryStorage())
        self.buckets: dict[str, tuple[float, float]] = {}
        self.open: Counter[str] = Counter()

    async def take_token(self, key: str, burst: int, rate: float) -> float:
        now = time.monotonic()
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
        self._taker = BucketTaker(self.redis, self.redis.register_script(_BUCKET_TAKE), self.prefix)
        self._admit = self.redis.register_script(_ADMIT)
        self._release = self.redis.register_script(_RELEASE)
        self._refresh = self.redis.register_script(_REFRESH)

    def _pair(self, key: str) -> list[str]:
        base = f"{self.prefix}:open:{key}"
        return [base, f"{base}:count"]

    @staticmethod
    def _ttl_ms() -> int:
        return int(presence.presence_ttl_seconds() * 1000)

    async def take_token(self, key: str, burst: int, rate: float) -> float:
        # Batched with the other sends of this process (chat/bucket_batch.py).
        return await self._taker.take(key, burst, rate)

    async def admit(self, caps: list[tuple[str, int]]) -> int:
        keys = [name for key, _ in caps for name in self._pair(key)]
        args: list[str | int] = [self.process, self._ttl_ms(), *(cap for _, cap in caps)]
        return int(await self._admit(keys=keys, args=args))

    async def release(self, counts: dict[str, int]) -> None:
        """Take `count` connections off each identity's count for this process."""
        await self._release(
            keys=[name for key in counts for name in self._pair(key)],
            args=[self.process, *counts.values()],
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


# --- the guard --------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """The counts one admitted connection holds; given back on disconnect."""

    guard: "Guard" = field(repr=False, compare=False)
    keys: list[str] = field(default_factory=list)

    async def release(self) -> None:
        await self.guard.release(self)


class Guard:
    """One per process (per event loop): the limits' state and its upkeep."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.held: Counter[str] = Counter()  # this process's open connections per key
        self.maintainer: asyncio.Task[None] | None = None
        self.unreleased: Counter[str] = Counter()  # releases the store missed, retried
        self.retrier: asyncio.Task[None] | None = None

    async def attempt_allowed(self, ip: str | None) -> bool:
        """Count a connection attempt from `ip`; False past the per-minute limit."""
        per_minute = settings.CHAT_CONNECT_ATTEMPTS_PER_MINUTE
        if per_minute <= 0 or ip is None:
            return True
        try:
            allowed = await self.store.windows.hit(
                RateLimitItemPerMinute(per_minute), "connect", address_key(ip)
            )
        except Exception as error:
            logger.warning("connection-attempt limit unavailable; allowing (%r)", error)
            return True
        if not allowed:
            observability.rate_limited("connect_attempts")
        return allowed

    async def admit(self, *, user_id: int, ip: str | None) -> Slot | None:
        """Count one more open connection for the user and the address, or None when
        either is at its cap (nothing counted)."""
        caps: list[tuple[str, int]] = []
        if settings.CHAT_MAX_CONNECTIONS_PER_USER > 0:
            caps.append((f"user:{user_id}", settings.CHAT_MAX_CONNECTIONS_PER_USER))
        if settings.CHAT_MAX_CONNECTIONS_PER_IP > 0 and ip is not None:
            caps.append((f"ip:{address_key(ip)}", settings.CHAT_MAX_CONNECTIONS_PER_IP))
        if not caps:
            return Slot(self, [])
        self._ensure_maintained()
        try:
            if full := await self.store.admit(caps):
                observability.rate_limited(f"connections_{caps[full - 1][0].split(':')[0]}")
                return None
        except Exception as error:
            logger.warning("connection caps unavailable; allowing (%r)", error)
            return Slot(self, [])
        slot = Slot(self, [key for key, _ in caps])
        self.held.update(slot.keys)
        return slot

    async def release(self, slot: Slot) -> None:
        if not slot.keys:
            return
        self.held.subtract(slot.keys)
        for key in slot.keys:
            if self.held[key] <= 0:
                del self.held[key]
        try:
            await self.store.release(dict.fromkeys(slot.keys, 1))
        except Exception as error:
            # A missed release stays counted while this process holds any connection of
            # that identity (refresh keeps the entry alive): after a network blip, an
            # office behind one address would be refused. Retried until it is done.
            logger.warning("connection caps: release failed; retrying (%r)", error)
            self.unreleased.update(slot.keys)
            if self.retrier is None or self.retrier.done():
                self.retrier = asyncio.get_running_loop().create_task(self._retry_releases())

    async def _retry_releases(self) -> None:
        delay = RELEASE_RETRY_FIRST_SECONDS
        while self.unreleased:
            await asyncio.sleep(delay)
            batch, self.unreleased = self.unreleased, Counter()
            try:
                await self.store.release(dict(batch))
            except Exception as error:
                self.unreleased.update(batch)
                delay = min(delay * 2, RELEASE_RETRY_MAX_SECONDS)
                logger.warning("connection caps: %d releases still pending (%r)", len(batch), error)

    async def message_check(self, user_id: int) -> None:
        """Take one message from the user's bucket, or raise RateLimited (flooding when
        the user's rejected sends passed CHAT_FLOOD_MAX_REJECTED within the window)."""
        burst = settings.CHAT_MESSAGE_BURST
        if burst <= 0:
            return
        try:
            wait = await self.store.take_token(
                f"user:{user_id}", burst, settings.CHAT_MESSAGE_RATE_PER_SECOND
            )
        except Exception as error:
            logger.warning("message rate limit unavailable; allowing (%r)", error)
            return
        if wait <= 0:
            return
        observability.rate_limited("message")
        raise RateLimited(wait, flooding=not await self._rejection_allowed(user_id))

    async def _rejection_allowed(self, user_id: int) -> bool:
        most = settings.CHAT_FLOOD_MAX_REJECTED
        if most <= 0:
            return True
        window: RateLimitItem = RateLimitItemPerSecond(most, settings.CHAT_FLOOD_WINDOW_SECONDS)
        try:
            return await self.store.windows.hit(window, "flood", str(user_id))
        except Exception as error:
            logger.warning("flood limit unavailable; allowing (%r)", error)
            return True

    def _ensure_maintained(self) -> None:
        if self.maintainer is None or self.maintainer.done():
            self.maintainer = asyncio.get_running_loop().create_task(self._maintain_forever())

    async def maintain(self) -> None:
        await self.store.refresh(dict(self.held))

    async def _maintain_forever(self) -> None:
        while True:
            await asyncio.sleep(presence.maintain_interval_seconds())
            try:
                await self.maintain()
            except Exception as error:
                logger.warning("connection caps: refresh failed; retrying (%r)", error)


def guard_for_process() -> Guard:
    if settings.REDIS_URL:
        return Guard(RedisStore(settings.REDIS_URL, settings.CHAT_LAYER_PREFIX))
    return Guard(MemoryStore())


_guards: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[tuple[str, str], Guard]]"
_guards = weakref.WeakKeyDictionary()


def current() -> Guard:
    """This process's guard (one per event loop and store configuration; tests swap
    both)."""
    loop = asyncio.get_running_loop()
    config = (settings.REDIS_URL, settings.CHAT_LAYER_PREFIX)
    found = _guards.get(loop)
    if found is None or found[0] != config:
        if found is not None and found[1].maintainer is not None:
            with contextlib.suppress(Exception):
                found[1].maintainer.cancel()
        found = (config, guard_for_process())
        _guards[loop] = found
    return found[1]
