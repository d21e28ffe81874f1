"""The process-local delivery hub: one channel-layer subscription per room per process,
fanning each event out to the room's local connections.

Per-connection channels would cost a Redis subscription, a queue, a task wake-up and a
decode per recipient; here an event is received and decoded once per process and its
pre-encoded frame is written to every local socket. The hub also keeps the registry
the two whole-process jobs need: catching up connections whose events were lost
(database sync) and closing them all on a graceful shutdown.

Transport layer: it reads through selectors only and never writes.
"""

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat import events, observability, presence, selectors, wire

logger = logging.getLogger(__name__)

HUB_RETRY_SECONDS = 0.5
# How long an event past a gap in a room's seqs waits for the missing events to arrive
# before the hub reads them from the database. Gaps are normal with several processes:
# each publishes its own commits, so seq 7 saved here may reach Redis after seq 8
# saved there.
GAP_HOLD_SECONDS = 0.05
GAP_FILL_CHUNK = 500  # messages read per query when the hub fills a gap
CLOSE_IDLE = 4408  # sent nothing for CHAT_IDLE_TIMEOUT_SECONDS


class LiveConnection(Protocol):
    room_id: int
    username: str
    last_seq: int
    last_frame_at: float  # loop time of the last frame from the client

    async def deliver(self, seq: int, frame: str, wire_frame: bytes | None = None) -> None: ...

    async def push(self, frame: str, wire_frame: bytes | None = None) -> None: ...

    async def catch_up(self, up_to: int) -> None: ...

    async def shut_down(self, code: int) -> None: ...


@dataclass
class _RoomOrder:
    """A room's message events put back in seq order, once for all local connections."""

    next_seq: int | None = None  # the seq to hand out next (None: no event yet)
    held: dict[int, str] = field(default_factory=dict)  # events past a gap, by seq
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    filler: "asyncio.Task[None] | None" = None  # waits GAP_HOLD_SECONDS, then reads


class _Hub:
    def __init__(self) -> None:
        self.by_room: dict[int, set[LiveConnection]] = defaultdict(set)
        self.order: dict[int, _RoomOrder] = {}
        self.committed: dict[int, int] = {}  # rooms' last seqs read by the previous sync
        self.subscribed: set[int] = set()
        self.room_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.channel: str | None = None
        self.start_lock = asyncio.Lock()
        self.layer: Any = None
        self.receiver: asyncio.Task[None] | None = None
        self.syncer: asyncio.Task[None] | None = None
        self.maintainer: asyncio.Task[None] | None = None
        self.presence: presence.Presence | None = None
        self.closing: set[asyncio.Task[None]] = set()
        self.shutting_down = False
        self.all_closed: asyncio.Event | None = None

    async def ensure_started(self) -> None:
        # Locked: the first connections to a fresh process arrive together, and two
        # hub channels would leave a room bound to one nobody reads.
        async with self.start_lock:
            if self.channel is None:
                self.layer = get_channel_layer()
                channel = await self.layer.new_channel(prefix="hub.")
                self.presence = presence.presence_for_process()
                await self.layer.group_add(events.CONTROL_GROUP, channel)
                self.channel = channel
        loop = asyncio.get_running_loop()
        if self.receiver is None or self.receiver.done():
            self.receiver = loop.create_task(self._receive_forever())
        if self.syncer is None or self.syncer.done():
            self.syncer = loop.create_task(self._sync_forever())
        if self.maintainer is None or self.maintainer.done():
            self.maintainer = loop.create_task(self._maintain_presence_forever())

    async def _receive_forever(self) -> None:
        assert self.channel is not None  # noqa: S101 - set by ensure_started
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub receive failed; retrying")
                observability.layer_failed("receive")
                await asyncio.sleep(HUB_RETRY_SECONDS)
                continue
            kind = event.get("type")
            if kind == "chat.message":
                await self.fan_out(event)
            elif kind == "chat.frame":
                await self.push_out(event)
            elif kind == "chat.kick":
                self.kick(event)

    async def fan_out(self, event: events.MessageEvent) -> None:
        """Hand a message event to the room's local connections in seq order.

        Events past a gap are held until the missing ones arrive or, after
        GAP_HOLD_SECONDS, are read from the database once for the whole room, so a
        gap costs one query per process rather than one per connection.
        """
        room_id, seq = event["room_id"], event["seq"]
        if room_id not in self.by_room:
            return
        order = self.order.setdefault(room_id, _RoomOrder())
        async with order.lock:
            if order.next_seq is None:
                order.next_seq = seq
            if seq < order.next_seq:
                # Late (it beat nothing): connections that lack it take it, others drop it.
                await self._to_all(room_id, seq, event["frame"])
                return
            order.held[seq] = event["frame"]
            await self._release(room_id, order)

    async def _to_all(self, room_id: int, seq: int, frame: str) -> None:
        conns = list(self.by_room.get(room_id, ()))
        observability.messages_delivered(len(conns))
        wire_frame = wire.text_frame(frame)  # once for every socket
        for conn in conns:
            try:
                await conn.deliver(seq, frame, wire_frame)
            except Exception:
                logger.exception("delivery to one connection failed")

    async def _release(self, room_id: int, order: _RoomOrder) -> None:
        # Caller holds order.lock.
        assert order.next_seq is not None  # noqa: S101 - set by the first event
        while order.next_seq in order.held:
            seq = order.next_seq
            frame = order.held.pop(seq)
            order.next_seq = seq + 1
            await self._to_all(room_id, seq, frame)
        if order.held and order.filler is None:
            up_to = min(order.held) - 1
            order.filler = asyncio.get_running_loop().create_task(
                self._fill_room(room_id, order, up_to, delay=GAP_HOLD_SECONDS)
            )
        elif (
            not order.held
            and order.filler is not None
            and order.filler is not (asyncio.current_task())
        ):
            order.filler.cancel()  # the gap closed by itself
            order.filler = None

    async def _fill_room(self, room_id: int, order: _RoomOrder, up_to: int, delay: float) -> None:
        """Deliver the room's saved messages up to seq `up_to` that no event brought."""
        await asyncio.sleep(delay)
        async with order.lock:
            if order.filler is asyncio.current_task():
                order.filler = None
            if (
                order.next_seq is None
                or order.next_seq > up_to
                or self.order.get(room_id) is not order
            ):
                await self._release(room_id, order)
                return
            try:
                while order.next_seq <= up_to:
                    rows = await database_sync_to_async(selectors.message_list)(
                        room_id=room_id,
                        after=order.next_seq - 1,
                        before=up_to + 1,
                        limit=GAP_FILL_CHUNK,
                    )
                    for message in rows:
                        await self._to_all(room_id, message["seq"], events.message_frame(message))
                        order.next_seq = message["seq"] + 1
                    if len(rows) < GAP_FILL_CHUNK:
                        order.next_seq = up_to + 1  # the rest were deleted: seqs stay holes
            except Exception:
                # No database: hand the held events on; each connection fills (or its
                # sync catches up) on its own once the database is back.
                logger.exception("gap fill failed room_id=%s; delivering out of order", room_id)
                for seq in sorted(order.held):
                    await self._to_all(room_id, seq, order.held.pop(seq))
                    order.next_seq = seq + 1
            await self._release(room_id, order)

    async def push_out(self, event: events.FrameEvent) -> None:
        excluded, frame = event["exclude_user"], event["frame"]
        wire_frame = wire.text_frame(frame)
        for conn in list(self.by_room.get(event["room_id"], ())):
            if conn.username != excluded:
                try:
                    await conn.push(frame, wire_frame)
                except Exception:
                    logger.exception("push to one connection failed")

    def kick(self, event: events.KickEvent) -> None:
        rooms = [event["room_id"]] if event["room_id"] is not None else list(self.by_room)
        loop = asyncio.get_running_loop()
        for room_id in rooms:
            for conn in list(self.by_room.get(room_id, ())):
                if conn.username == event["username"]:
                    task = loop.create_task(conn.shut_down(event["code"]))
                    self.closing.add(task)
                    task.add_done_callback(self.closing.discard)

    async def join(self, conn: LiveConnection) -> None:
        """Add a connection; returns once the room's events reach this process and the
        user counts as online."""
        await self.ensure_started()
        room_id = conn.room_id
        self.by_room[room_id].add(conn)
        try:
            async with self.room_locks[room_id]:
                if room_id not in self.subscribed:
                    await self.layer.group_add(events.room_group(room_id), self.channel)
                    self.subscribed.add(room_id)
                    # Read after subscribing: every later commit arrives as an event, so a
                    # gap past this seq is a lost or delayed event the hub fills.
                    latest = await database_sync_to_async(selectors.room_last_seqs)(
                        room_ids=[room_id]
                    )
                    order = self.order.setdefault(room_id, _RoomOrder())
                    if order.next_seq is None:
                        order.next_seq = latest.get(room_id, 0) + 1
            assert self.presence is not None  # noqa: S101 - set by ensure_started
            await self.presence.connected(room_id, conn.username)
        except BaseException:
            self.by_room[room_id].discard(conn)  # a failed join leaves no member behind
            raise

    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]:
        """Up to `limit` names of the room's online users, and how many there are."""
        assert self.presence is not None  # noqa: S101 - set by ensure_started
        return await self.presence.online(room_id, limit)

    async def leave(self, conn: LiveConnection) -> None:
        room_id = conn.room_id
        if self.presence is not None:
            try:
                await self.presence.disconnected(room_id, conn.username)
            except Exception:  # Redis down: the entry expires and a sweep announces it
                logger.exception("presence update failed on disconnect")
        members = self.by_room.get(room_id)
        if members is not None:
            members.discard(conn)
            if not members:
                del self.by_room[room_id]
        if self.all_closed is not None and not self.by_room:
            self.all_closed.set()
        if room_id in self.by_room:
            return
        async with self.room_locks[room_id]:
            if room_id not in self.by_room and room_id in self.subscribed:
                self.subscribed.discard(room_id)
                order = self.order.pop(room_id, None)
                if order is not None and order.filler is not None:
                    order.filler.cancel()
                with contextlib.suppress(Exception):  # the layer may be down; harmless
                    await self.layer.group_discard(events.room_group(room_id), self.channel)

    def connection_count(self) -> int:
        return sum(len(members) for members in self.by_room.values())

    async def sync_once(self) -> None:
        """Catch up the rooms and connections still missing a message that was already
        committed at the previous call: its event was lost, not merely in flight."""
        if not self.by_room:
            self.committed = {}
            return
        latest = await database_sync_to_async(selectors.room_last_seqs)(room_ids=list(self.by_room))
        # Comparing with the seqs of the previous call, not these, leaves events that are
        # still on their way alone: no needless reads in a busy room.
        due, self.committed = self.committed, latest
        # A lost event with no later one behind it leaves no gap to see: the room's
        # committed seq shows it. Fill such rooms once for all their connections first.
        fills = [
            self._fill_room(room_id, order, due[room_id], delay=0)
            for room_id, order in list(self.order.items())
            if room_id in due
            and order.next_seq is not None
            and order.next_seq <= due[room_id]
            and order.filler is None
        ]
        if fills:
            await asyncio.gather(*fills)
        laggards = [
            (conn, due[room_id])
            for room_id, members in list(self.by_room.items())
            if room_id in due
            for conn in list(members)
            if conn.last_seq < due[room_id]
        ]
        observability.caught_up(len(laggards))
        if laggards:
            await asyncio.gather(*(conn.catch_up(up_to) for conn, up_to in laggards))

    async def _sync_forever(self) -> None:
        # One cheap query per process per interval bounds how long a lost event can delay
        # a message (two intervals): the channel layer is the fast path, the database is
        # the truth.
        while True:
            await asyncio.sleep(settings.CHAT_SYNC_INTERVAL_SECONDS)
            try:
                await self.sync_once()
            except Exception:
                logger.exception("delivery sync failed; retrying next interval")
            self.close_idle()

    def close_idle(self) -> None:
        timeout = settings.CHAT_IDLE_TIMEOUT_SECONDS
        if timeout <= 0:
            return
        now = asyncio.get_running_loop().time()
        for members in list(self.by_room.values()):
            for conn in list(members):
                if now - conn.last_frame_at > timeout:
                    task = asyncio.get_running_loop().create_task(conn.shut_down(CLOSE_IDLE))
                    self.closing.add(task)
                    task.add_done_callback(self.closing.discard)

    async def _maintain_presence_forever(self) -> None:
        while True:
            await asyncio.sleep(presence.maintain_interval_seconds())
            try:
                assert self.presence is not None  # noqa: S101 - set by ensure_started
                await self.presence.maintain()
            except Exception:
                logger.exception("presence maintenance failed; retrying next interval")

    async def close_all(self, code: int, wait_seconds: float) -> int:
        """Close every connection with `code` once its current frame is handled, and wait
        (up to `wait_seconds`) for them to go. Returns how many were still open after."""
        self.shutting_down = True
        self.all_closed = asyncio.Event()
        conns = [conn for members in list(self.by_room.values()) for conn in list(members)]
        logger.info("graceful shutdown: closing %d connections with %d", len(conns), code)
        if not conns:
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        await asyncio.wait(
            [loop.create_task(conn.shut_down(code)) for conn in conns], timeout=wait_seconds
        )
        if self.by_room:
            # The close handshakes finish as clients answer; each disconnect leaves.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_closed.wait(), max(deadline - loop.time(), 0))
        return self.connection_count()


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub]" = weakref.WeakKeyDictionary()


def current() -> _Hub:
    """This process's hub (one per event loop and channel layer; tests swap both)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None or (found.layer is not None and found.layer is not get_channel_layer()):
        found = _hubs[loop] = _Hub()
    return found
