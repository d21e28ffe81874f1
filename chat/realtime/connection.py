"""The delivery side of one WebSocket connection: its state, and one stream per room it
carries (a seq order plus the lock that serialises the stream's writes). A plain object
the consumer (chat/consumers/) owns; the hub, the sync and the graceful stop call it.

Verbs: `send` puts one frame on this socket (the server's raw writer with bytes built
once, else the ASGI send the consumer passed in); `deliver` / `deliver_frame` hand an
event to the connection, which orders it and then sends it. The connection never calls
into the consumer except through the callables it was built with.

No database access except through chat/realtime/reads.py; never imports chat.models.
"""

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence

from chat.realtime import reads, wire
from chat.realtime.ordering import Decision, SeqOrder

logger = logging.getLogger(__name__)

MAX_EARLY_PUSHES = 1000  # presence/typing frames kept while the hello is prepared

# What the consumer hands the connection: ASGI's send of one text frame, ASGI's close,
# and (all-rooms connections) what to do when the user joined or left a room.
AsgiSend = Callable[[str], Awaitable[None]]
AsgiClose = Callable[[int], Awaitable[None]]
MembershipChanged = Callable[[int, str, str, str], Awaitable[None]]


class State(enum.IntEnum):
    CONNECTING = 0  # the hello is being prepared: events are kept for after it
    OPEN = 1  # hello sent: events are written as they come
    CLOSING = 2  # a close was sent or asked for: nothing more is written
    CLOSED = 3  # disconnected and gone from the hub


class Stream:
    """One room's messages on one connection."""

    def __init__(self, room_id: int, slug: str, *, counted: bool = True) -> None:
        self.room_id = room_id
        self.slug = slug
        self.counted = counted  # joined (False: a watched public room, a preview)
        self.order = SeqOrder()
        self.lock = asyncio.Lock()  # one writer of the stream at a time
        self.queued: set[asyncio.Task[None]] = set()  # deliveries waiting for the lock

    @property
    def delivered(self) -> int:
        return self.order.delivered


class Connection:
    """One WebSocket's delivery state, built by its consumer with the socket's ASGI
    send and close (and, for /ws/chat/, its reaction to room joins and leaves)."""

    def __init__(
        self,
        *,
        asgi_send: AsgiSend,
        asgi_close: AsgiClose,
        all_rooms: bool = False,
        membership_changed: MembershipChanged | None = None,
    ) -> None:
        self.all_rooms = all_rooms  # the /ws/chat/ endpoint (True) or one room's (False)
        self.state = State.CONNECTING
        self.user_id = 0
        self.username = ""
        self.session_key: str | None = None  # the login session the socket opened with
        self.streams: dict[int, Stream] = {}
        self.by_slug: dict[str, Stream] = {}  # the same streams by room slug
        self.online: set[int] = set()  # rooms where this connection counts for presence
        self.last_frame_at = 0.0  # loop time of the last frame from the client
        self.frame_lock = asyncio.Lock()  # held while a client frame is being handled
        # The server's writer of whole frames (chat/realtime/wire.py), set once accepted.
        self.raw_send: wire.RawSend | None = None
        self._asgi_send = asgi_send
        self._asgi_close = asgi_close
        self._membership_changed = membership_changed
        self._early_pushes: list[tuple[int | None, str, int]] = []
        self._held_membership: list[tuple[int, str, str, str]] = []  # came before hello

    # --- the socket ------------------------------------------------------------------

    async def send(self, frame: str, wire_frame: bytes | None = None) -> None:
        """Put one frame on the socket. Where the server offers its raw writer (daphne,
        see chatsite/daphne_adapter/raw_send.py) the frame's bytes go through it: `wire_frame` when
        the hub built them for every recipient, else built here, once. Else, or when
        the writer refuses (bytes already queued, a closing socket), through ASGI."""
        # Through ASGI each frame passes channels, daphne, autobahn and Twisted's buffer
        # (an epoll registration, a send on the next loop turn): ~16 % of the event loop
        # in the write-heavy profile. Only once OPEN: the accept itself goes through
        # ASGI, and no frame may overtake it. The raw writer refuses whenever bytes are
        # already queued, so frames keep their order.
        raw = self.raw_send
        if (
            raw is not None
            and self.state is State.OPEN
            and raw(wire_frame if wire_frame is not None else wire.text_frame(frame))
        ):
            return
        wire.flush()  # raw bytes kept for this socket go first
        await self._asgi_send(frame)

    async def close(self, code: int) -> None:
        """Send the close frame; nothing is sent after it (daphne raises on a closing
        socket)."""
        if self.state < State.CLOSING:
            self.state = State.CLOSING
        wire.flush()  # what was handed out before the close goes out before it
        await self._asgi_close(int(code))  # a CloseCode member goes out as a plain int

    # --- streams (for the consumer) --------------------------------------------------

    def add_stream(self, room_id: int, slug: str, *, counted: bool) -> Stream:
        stream = self.streams[room_id] = Stream(room_id, slug, counted=counted)
        self.by_slug[slug] = stream
        return stream

    def drop_stream(self, room_id: int) -> Stream | None:
        """Stop carrying the room: its events stop at once. Returns its stream, if any."""
        stream = self.streams.pop(room_id, None)
        if stream is not None and self.by_slug.get(stream.slug) is stream:
            del self.by_slug[stream.slug]
        return stream

    async def start_stream(
        self,
        stream: Stream,
        delivered: int,
        backlog: Sequence[tuple[int, str]] = (),
        through: int | None = None,
    ) -> None:
        """Begin sending the room's messages after seq `delivered` (`backlog` first),
        then the events that came meanwhile."""
        async with stream.lock:
            await self._carry_out(stream, stream.order.start(delivered, backlog, through))

    async def opened(self) -> None:
        """The hello is sent: send what waited for it, then follow the room joins and
        leaves that came meanwhile."""
        self.state = State.OPEN
        pushes, self._early_pushes = self._early_pushes, []
        for room_id, frame, after_seq in pushes:
            await self.deliver_frame(room_id, frame, after_seq=after_seq)
        held, self._held_membership = self._held_membership, []
        for change in held:
            await self.membership_changed(*change)

    # --- called by the hub, the sync and the graceful stop ----------------------------

    def deliver_now(self, room_id: int, seq: int, wire_frame: bytes) -> bool:
        """`deliver`'s common case without a coroutine: the next seq of an idle stream,
        written (or kept, chat/realtime/wire.py) synchronously, so nothing can come
        between the write and recording it. False: nothing done, call `deliver`. Kept
        lean: it runs once per recipient of every message."""
        stream = self.streams.get(room_id)
        if (
            stream is not None
            and self.state is State.OPEN
            and not stream.queued
            and not stream.lock.locked()
            and (raw := self.raw_send) is not None
            and stream.order.next_in_line(seq)
            and raw(wire_frame)
        ):
            stream.order.delivered = seq
            return True
        return False

    async def deliver(
        self, room_id: int, seq: int, frame: str, wire_frame: bytes | None = None
    ) -> None:
        """A room's message event, in the hub's seq order. `wire_frame` is `frame`
        already framed for the socket (chat/realtime/wire.py), if built."""
        stream = self.streams.get(room_id)
        if stream is None:
            return
        order = stream.order
        raw = self.raw_send
        if (
            self.state is State.OPEN
            and wire_frame is not None
            and raw is not None
            and not stream.queued
            and not stream.lock.locked()
            and order.next_in_line(seq)
            and raw(wire_frame)
        ):
            # The common case, once per recipient: the next seq of an idle stream,
            # written (or queued in the transport) synchronously, so nothing can come
            # between the write and recording it. Kept lean: it is the fan-out's cost.
            order.delivered = seq
            return
        if self.state >= State.CLOSING:
            return
        if not stream.lock.locked() and not stream.queued:
            async with stream.lock:  # free, so taken without a wait: the common case
                await self._carry_out(stream, stream.order.offer(seq, frame), seq, wire_frame)
            return
        # Behind a gap being filled: queue (FIFO on the lock), off the hub's path.
        task = asyncio.get_running_loop().create_task(self._deliver_queued(stream, seq, frame))
        stream.queued.add(task)
        task.add_done_callback(stream.queued.discard)

    async def _deliver_queued(self, stream: Stream, seq: int, frame: str) -> None:
        try:
            async with stream.lock:
                if self.state < State.CLOSING:
                    await self._carry_out(stream, stream.order.offer(seq, frame))
        except Exception:
            logger.exception("delivery to one connection failed")

    async def deliver_frame(
        self,
        room_id: int | None,
        frame: str,
        wire_frame: bytes | None = None,
        *,
        after_seq: int = 0,
    ) -> None:
        """A frame outside the message stream: about a room this connection carries
        (presence, typing, room.read, reaction), or about no room (`room_id` None:
        user.updated). With `after_seq` (a reaction: its message's seq) it is sent
        only after the stream has sent that seq, reading it first if need be."""
        if self.state == State.CONNECTING:
            if len(self._early_pushes) < MAX_EARLY_PUSHES:
                self._early_pushes.append((room_id, frame, after_seq))
            return
        if self.state != State.OPEN:
            return
        if room_id is None:
            await self.send(frame, wire_frame)
            return
        stream = self.streams.get(room_id)
        if stream is None or not stream.order.started:
            return
        if after_seq and (stream.delivered < after_seq or stream.queued or stream.lock.locked()):
            # Its message is held behind a gap or queued: in line after it (FIFO lock).
            task = asyncio.get_running_loop().create_task(
                self._deliver_after(stream, after_seq, frame)
            )
            stream.queued.add(task)
            task.add_done_callback(stream.queued.discard)
            return
        await self.send(frame, wire_frame)

    async def _deliver_after(self, stream: Stream, after_seq: int, frame: str) -> None:
        try:
            async with stream.lock:
                read = stream.order.catch_up(after_seq)
                if read is not None and self.state == State.OPEN:
                    await self._carry_out(stream, Decision(read=read))
                if self.state == State.OPEN:
                    await self.send(frame)
        except Exception:
            logger.exception("frame to one connection failed")

    async def counts_changed(self, room_id: int, frame: str) -> None:
        """A room.read frame for this user (all-rooms connections): sent for a joined
        room only, not a watched one."""
        stream = self.streams.get(room_id)
        if stream is not None and stream.counted:
            await self.deliver_frame(room_id, frame)

    async def membership_changed(self, room_id: int, slug: str, action: str, reason: str) -> None:
        """This user joined or left a room (all-rooms connections): kept until the hello
        is sent, then handed to the consumer's reaction."""
        if self.state == State.CONNECTING:
            self._held_membership.append((room_id, slug, action, reason))
            return
        if self.state == State.OPEN and self._membership_changed is not None:
            await self._membership_changed(room_id, slug, action, reason)

    def kicked(self, room_id: int | None, code: int) -> bool:
        """Whether a kick (every room, or one) closes this connection."""
        return room_id is None or (not self.all_rooms and room_id in self.streams)

    async def catch_up(self, room_id: int, up_to: int) -> None:
        """Deliver every saved message of the room up to seq `up_to` not yet sent."""
        stream = self.streams.get(room_id)
        if stream is None:
            return
        async with stream.lock:
            read = stream.order.catch_up(up_to)
            if read is not None and self.state == State.OPEN:
                await self._carry_out(stream, Decision(read=read))

    async def shut_down(self, code: int) -> None:
        """Close once the frame being handled (if any) is saved and answered."""
        async with self.frame_lock:
            await self.close(code)

    async def stop_frames(self) -> None:
        """Once the frame being handled (if any) is saved and answered, handle no more
        and deliver nothing more: the server is about to drop the socket."""
        async with self.frame_lock:
            if self.state < State.CLOSING:
                self.state = State.CLOSING

    async def _carry_out(
        self,
        stream: Stream,
        decision: Decision,
        seq: int | None = None,
        wire_frame: bytes | None = None,
    ) -> None:
        # Caller holds stream.lock. A send that raises stops here: the stream's
        # position stays before it, so the frame is read back when the gap shows.
        while True:
            for at, frame in decision.send:
                if frame is not None:
                    if self.state >= State.CLOSING:
                        return
                    await self.send(frame, wire_frame if at == seq else None)
                stream.order.written(at)
            if decision.read is None:
                return
            rows = await reads.messages(stream.room_id, decision.read)
            decision = stream.order.filled(decision.read, rows)
