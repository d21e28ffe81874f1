"""Abuse limits: how fast a user may send, how many sockets a user or an address may
hold open, how often an address may connect, and how big a frame may be.

Every limit is a setting (README "Configuration"; zero turns one off). With REDIS_URL
set the state is shared by every process, so a flood spread over several connections
on several processes meets the same limit; without it, one process is all there is
and the state is in memory.

- Message rate: a token bucket per user (CHAT_MESSAGE_BURST at once, refilled at
  CHAT_MESSAGE_RATE_PER_SECOND). In Redis it is one small Lua script timed by the
  Redis clock; `limits` (used below for the windows) offers no token bucket.
- Connection attempts: a moving window per address (in Redis a script batched with
  the connects' other calls, chat/ops/redis_scripts.py).
- Flooding: a moving window from the `limits` library.
- Open connections: like presence (chat/presence/), each process keeps its own count
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
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import NotRequired

from django.conf import settings
from limits import RateLimitItem, RateLimitItemPerSecond

from chat.errors import ChatError, ErrorFrame
from chat.limits.stores import MemoryStore, RedisStore, Store
from chat.ops import observability
from chat.presence.stores import maintain_interval_seconds
from chat.protocol.codes import ErrorCode

logger = logging.getLogger(__name__)

RELEASE_RETRY_FIRST_SECONDS = 0.5  # a cap release Redis missed is tried again after this,
RELEASE_RETRY_MAX_SECONDS = 15.0  # ... doubling up to this while it keeps failing


class RateLimitedFrame(ErrorFrame):
    retry_after: NotRequired[float]


class RateLimited(ChatError):
    """A message.send over the user's rate; `flooding` when the socket is to close."""

    def __init__(self, retry_after: float, *, flooding: bool = False) -> None:
        self.retry_after = round(max(retry_after, 0.001), 3)
        super().__init__(
            ErrorCode.RATE_LIMITED, f"Too many messages; try again in {self.retry_after:g} s."
        )
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
        raise ChatError(ErrorCode.FRAME_TOO_LARGE, f"A frame can have at most {limit} bytes.")


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
            allowed = await self.store.attempt(f"connect:{address_key(ip)}", per_minute, 60)
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
            await asyncio.sleep(maintain_interval_seconds())
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
