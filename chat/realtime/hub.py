"""The process's hub: one channel-layer subscription per room per process, fanning each
event out to the room's local connections in seq order.

Per-connection channels would cost a Redis subscription, a queue, a task wake-up and a
decode per recipient; here an event is received and decoded once per process and its
pre-encoded frame (and its wire bytes, chat/realtime/wire.py) is written to every local socket.

Reads through chat/realtime/reads.py only; never writes, never imports chat.models.
"""

import asyncio
import contextlib
import logging
from typing import Any

from chat import events
from chat.ops import observability
from chat.presence.tracker import Presence, presence_for_process
from chat.realtime import reads, wire
from chat.realtime.connection import Connection
from chat.realtime.ordering import Decision, SeqOrder
from chat.realtime.registry import Registry
from chat.realtime.thread_states import ThreadStates

logger = logging.getLogger(__name__)

HUB_RETRY_SECONDS = 0.5
# How long an event past a gap in a room's seqs waits for the missing events to arrive
# before the hub reads them from the database. Gaps are normal with several processes:
# each publishes its own commits, so seq 7 saved here may reach Redis after seq 8
# saved there.
GAP_HOLD_SECONDS = 0.05
# A room's subscription outlives its last local connection by this much: a user who is
# back soon (a reload, a reconnect after a restart, the next tab) finds it there rather
# than paying a SUBSCRIBE, a read of the room's last seq and, on leaving, an UNSUBSCRIBE
# each time. Messages reach the hub on chat.messages whatever it is subscribed to, so a
# lingering room's order stays current.
ROOM_LINGER_SECONDS = 30.0


class RoomOrder:
    """A room's message events put back in seq order, once for all local connections."""

    def __init__(self) -> None:
        self.order = SeqOrder()
        self.lock = asyncio.Lock()
        self.filler: asyncio.Task[None] | None = None  # waits GAP_HOLD_SECONDS, then reads


class Hub:
    """Built by `Hub.start` with its channel subscribed to the control group."""

    def __init__(self, *, layer: Any, channel: str, tracker: Presence, registry: Registry) -> None:
        self.layer = layer
        self.channel = channel
        self.presence = tracker
        self.registry = registry
        self.thread_states = ThreadStates(registry)  # thread.state, with totals read here
        self.rooms: dict[int, RoomOrder] = {}  # the rooms this process is subscribed to
        self._subscribe_lock = asyncio.Lock()  # one change of subscriptions at a time
        self._lingering: dict[int, float] = {}  # empty room -> when to unsubscribe (loop time)
        self._reaper: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, layer: Any, registry: Registry) -> "Hub":
        channel = await layer.new_channel(prefix="hub.")
        await layer.group_add(events.CONTROL_GROUP, channel)
        # Before any room is joined: every message committed from here on arrives.
        await layer.group_add(events.MESSAGES_GROUP, channel)
        return cls(
            layer=layer,
            channel=channel,
            tracker=presence_for_process(),
            registry=registry,
        )

    # --- connections come and go ---------------------------------------------------

    async def join(self, conn: Connection, room_ids: list[int], *, online: dict[int, str]) -> None:
        """Add the connection to the rooms. Returns once every later commit in them
        reaches this process as an event, and the user counts as online in `online`
        (id -> slug, some of the rooms) — one presence round trip however many."""
        self.registry.add_rooms(conn, room_ids)
        if any(r not in self.rooms or not self.rooms[r].order.started for r in room_ids):
            await self._subscribe(room_ids)
        online = {room_id: slug for room_id, slug in online.items() if room_id not in conn.online}
        if online:
            # Marked first: the local counts rise at once, and leave() takes them down.
            conn.online.update(online)
            try:
                await self.presence.connected_many(online, conn.username)
            except Exception:
                # Redis away (a Sentinel failover): the connect goes on; the local counts
                # are up, and the next refresh (Presence.maintain) adds and announces it.
                logger.warning("presence arrival failed user=%s; refresh adds it", conn.username)

    async def _subscribe(self, room_ids: list[int]) -> None:
        async with self._subscribe_lock:
            new = [room_id for room_id in room_ids if room_id not in self.rooms]
            if not new:
                return
            for room_id in new:
                self.rooms[room_id] = RoomOrder()  # keeps events that come meanwhile
            try:
                await asyncio.gather(
                    *(self.layer.group_add(events.room_group(r), self.channel) for r in new)
                )
                # Read after subscribing: every later commit arrives as an event, so a gap
                # past this seq is a lost or delayed event the hub fills.
                latest = await reads.last_seqs(new)
            except BaseException:
                for room_id in new:
                    self.rooms.pop(room_id, None)
                raise
            for room_id in new:
                room = self.rooms[room_id]
                async with room.lock:
                    await self._carry_out(room_id, room, room.order.start(latest.get(room_id, 0)))

    async def leave(self, conn: Connection, room_ids: list[int]) -> None:
        """Take the connection out of the rooms (all of them when it closes)."""
        online = [room_id for room_id in room_ids if room_id in conn.online]
        conn.online.difference_update(online)
        if online:
            try:
                await self.presence.disconnected_many(online, conn.username)
            except Exception:  # Redis down: the entries expire and a sweep announces it
                logger.exception("presence update failed on leave")
        emptied = self.registry.remove_rooms(conn, room_ids)
        await self.unsubscribe_empty(emptied)

    async def unsubscribe_empty(self, room_ids: list[int]) -> None:
        """Unsubscribe from these rooms if they are still without a local connection
        ROOM_LINGER_SECONDS from now."""
        loop = asyncio.get_running_loop()
        until = loop.time() + ROOM_LINGER_SECONDS
        for room_id in room_ids:
            if room_id in self.rooms and room_id not in self.registry.by_room:
                self._lingering[room_id] = until
        if self._lingering and (self._reaper is None or self._reaper.done()):
            self._reaper = loop.create_task(self._reap())

    async def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        while self._lingering:
            await asyncio.sleep(max(0.1, min(self._lingering.values()) - loop.time()))
            now = loop.time()
            due = [room_id for room_id, at in self._lingering.items() if at <= now]
            for room_id in due:
                del self._lingering[room_id]
            try:
                await self._unsubscribe_now(due)
            except Exception:
                logger.exception("unsubscribing %d empty rooms failed", len(due))

    async def _unsubscribe_now(self, room_ids: list[int]) -> None:
        if not room_ids:
            return
        async with self._subscribe_lock:
            gone = [r for r in room_ids if r not in self.registry.by_room and r in self.rooms]
            for room_id in gone:
                room = self.rooms.pop(room_id)
                if room.filler is not None:
                    room.filler.cancel()
            for room_id in gone:
                with contextlib.suppress(Exception):  # the layer may be down; harmless
                    await self.layer.group_discard(events.room_group(room_id), self.channel)

    async def online(self, room_id: int, limit: int) -> tuple[list[str], int]:
        """Up to `limit` names of the room's online users, and how many there are (none,
        while Redis is away: hello goes out without them, presence frames follow)."""
        try:
            return await self.presence.online(room_id, limit)
        except Exception:
            logger.warning("presence read failed room_id=%s; hello without online users", room_id)
            return [], 0

    # --- events ----------------------------------------------------------------------

    async def receive_forever(self) -> None:
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
            try:
                await self.dispatch(event)
            except Exception:
                logger.exception("hub event failed type=%s", event.get("type"))

    async def dispatch(self, event: dict[str, Any]) -> None:
        """One channel-layer event (chat/events/types.py's shapes, told apart by type)."""
        kind = event.get("type")
        if kind == "chat.messages":
            await self.fan_out_many(event)  # type: ignore[arg-type]
        elif kind == "chat.message":  # one message on its room's group: a process of the
            await self.fan_out(event)  # type: ignore[arg-type]  # version before batches
        elif kind == "chat.frame":
            await self.push_out(event)  # type: ignore[arg-type]
        elif kind == "chat.kick":
            self.kick(event)  # type: ignore[arg-type]
        elif kind == "chat.counts":
            await self.counts(event)  # type: ignore[arg-type]
        elif kind == "chat.membership":
            self.membership(event)  # type: ignore[arg-type]
        elif kind == "chat.profile":
            await self.profile(event)  # type: ignore[arg-type]
        elif kind == "chat.sessions_end":
            self.sessions_end(event)  # type: ignore[arg-type]
        elif kind == "chat.session_renamed":
            self.session_renamed(event)  # type: ignore[arg-type]
        elif kind == "chat.user_frame":
            await self.user_frame(event)  # type: ignore[arg-type]
        elif kind == "chat.thread_states":
            self.thread_states.offer(event)  # type: ignore[arg-type]

    async def fan_out_many(self, event: events.MessagesEvent) -> None:
        """A batch's messages, each handed out as fan_out does; rooms without a local
        connection are skipped."""
        items = event["items"]
        if len(items) == 1:
            await self._offer_item(items[0])
            return
        # Each socket's frames of the batch leave in one write (chat/realtime/wire.py).
        with wire.held():
            for item in items:
                await self._offer_item(item)

    async def _offer_item(self, item: list[Any]) -> None:
        room_id, seq, frame = item
        room = self.rooms.get(int(room_id))
        if room is not None:
            await self._offer(int(room_id), room, int(seq), str(frame))

    async def fan_out(self, event: events.MessageEvent) -> None:
        """Hand a message event to the room's local connections in seq order.

        Events past a gap are held until the missing ones arrive or, after
        GAP_HOLD_SECONDS, are read from the database once for the whole room, so a
        gap costs one query per process rather than one per connection.
        """
        room_id = event["room_id"]
        room = self.rooms.get(room_id)
        if room is not None:
            await self._offer(room_id, room, event["seq"], event["frame"])

    async def _offer(self, room_id: int, room: RoomOrder, seq: int, frame: str) -> None:
        async with room.lock:
            await self._carry_out(room_id, room, room.order.offer(seq, frame))

    async def _carry_out(self, room_id: int, room: RoomOrder, decision: Decision) -> None:
        # Caller holds room.lock.
        await self._hand_out(room_id, room, decision)
        if decision.read is not None and room.filler is None:
            room.filler = asyncio.get_running_loop().create_task(
                self.fill(room_id, room, delay=GAP_HOLD_SECONDS)
            )

    async def _hand_out(self, room_id: int, room: RoomOrder, decision: Decision) -> None:
        for seq, frame in decision.send:
            if frame is not None:
                await self._to_all(room_id, seq, frame)
            room.order.written(seq)

    async def _to_all(self, room_id: int, seq: int, frame: str) -> None:
        conns = list(self.registry.by_room.get(room_id, ()))
        observability.messages_delivered(len(conns))
        wire_frame = wire.text_frame(frame)  # once for every socket
        for conn in conns:
            try:
                if not conn.deliver_now(room_id, seq, wire_frame):
                    await conn.deliver(room_id, seq, frame, wire_frame)
            except Exception:
                logger.exception("delivery to one connection failed")

    async def fill(
        self, room_id: int, room: RoomOrder, *, delay: float = 0, up_to: int | None = None
    ) -> None:
        """After `delay`, read what the room's gap (or, with `up_to`, its lag behind a
        committed seq) is missing from the database and hand everything out in order."""
        if delay:
            await asyncio.sleep(delay)
        async with room.lock:
            if room.filler is asyncio.current_task():
                room.filler = None
            if self.rooms.get(room_id) is not room:
                return
            read = room.order.gap() if up_to is None else room.order.catch_up(up_to)
            try:
                while read is not None:
                    decision = room.order.filled(read, await reads.messages(room_id, read))
                    await self._hand_out(room_id, room, decision)
                    read = decision.read
            except Exception:
                # No database: hand the held events on; each connection fills (or the
                # sync catches it up) on its own once the database is back.
                logger.exception("gap fill failed room_id=%s; delivering out of order", room_id)
                await self._hand_out(room_id, room, room.order.flush())

    async def push_out(self, event: events.FrameEvent) -> None:
        room_id, excluded, frame = event["room_id"], event["exclude_user"], event["frame"]
        after_seq = event.get("after_seq", 0)  # absent from older processes' events
        wire_frame = wire.text_frame(frame)
        for conn in list(self.registry.by_room.get(room_id, ())):
            if conn.username != excluded:
                try:
                    await conn.deliver_frame(room_id, frame, wire_frame, after_seq=after_seq)
                except Exception:
                    logger.exception("push to one connection failed")

    def kick(self, event: events.KickEvent) -> None:
        for conn in list(self.registry.connections):
            if conn.username == event["username"] and conn.kicked(event["room_id"], event["code"]):
                self.registry.spawn(conn.shut_down(event["code"]))

    async def counts(self, event: events.CountsEvent) -> None:
        """A room's read counts changed for some users: a room.read frame to each of
        their all-rooms connections (encoded once per user)."""
        room_id, slug = event["room_id"], event["room"]
        for user_id, state in event["counts"].items():
            conns = [c for c in self.registry.by_user.get(int(user_id), ()) if c.all_rooms]
            if not conns:
                continue
            frame = events.encode({"type": "room.read", "room": slug, **state})
            for conn in conns:
                try:
                    await conn.counts_changed(room_id, frame)
                except Exception:
                    logger.exception("counts to one connection failed")

    async def user_frame(self, event: events.UserFrameEvent) -> None:
        """A frame for every connection of one user (their settings changed elsewhere)."""
        frame = event["frame"]
        wire_frame = wire.text_frame(frame)
        for conn in list(self.registry.by_user.get(int(event["user_id"]), ())):
            try:
                await conn.deliver_frame(None, frame, wire_frame)
            except Exception:
                logger.exception("user frame to one connection failed")

    def membership(self, event: events.MembershipEvent) -> None:
        """A user joined or left a room: their all-rooms connections follow (each reads
        and subscribes on its own, off the hub's path)."""
        for conn in list(self.registry.by_user.get(int(event["user_id"]), ())):
            if conn.all_rooms:
                self.registry.spawn(
                    conn.membership_changed(
                        event["room_id"], event["room"], event["action"], event["reason"]
                    )
                )

    async def profile(self, event: events.ProfileEvent) -> None:
        """A user's display name or avatar changed: forget the cached profiles (the event
        names no user id) and tell every local connection, encoded once. Rare, so not
        worth working out which connections show that user."""
        reads.profiles_forget()
        frame = events.encode({"type": "user.updated", "user": event["user"]})
        wire_frame = wire.text_frame(frame)
        for conn in list(self.registry.connections):
            try:
                await conn.deliver_frame(None, frame, wire_frame)
            except Exception:
                logger.exception("profile to one connection failed")

    def sessions_end(self, event: events.SessionsEndEvent) -> None:
        """Close the sockets opened with these login sessions (logout, password change)."""
        keys = set(event["session_keys"])
        for conn in list(self.registry.connections):
            if conn.session_key is not None and conn.session_key in keys:
                self.registry.spawn(conn.shut_down(event["code"]))

    def session_renamed(self, event: events.SessionRenamedEvent) -> None:
        """A session lives on under a new key (password changed through it): its sockets
        stay open, and the periodic session check looks them up by the new key."""
        for conn in self.registry.connections:
            if conn.session_key == event["old"]:
                conn.session_key = event["new"]
