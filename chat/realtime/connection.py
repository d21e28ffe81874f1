"""The delivery side of one WebSocket connection: its state, and one stream per room it
carries (a seq order plus the lock that serialises the stream's writes). The consumer
(chat/consumers.py) adds the protocol; the hub calls the methods below.

No database access except through chat/realtime/reads.py; never imports chat.models.
"""

import asyncio
import enum
import logging
from collections.abc import Sequence

from chat.realtime import reads, wire
from chat.realtime.ordering import Decision, SeqOrder

logger = logging.getLogger(__name__)

MAX_EARLY_PUSHES = 1000  # presence/typing frames kept while the hello is prepared


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
    """Mixed into the consumer (before channels' class). Subclasses provide
    `_send_text` and `_close`, and the protocol's reactions to control events."""

    def __init__(self) -> None:
        super().__init__()
        self.all_rooms = False  # the /ws/chat/ endpoint (True) or one room's (False)
        self.state = State.CONNECTING
        self.user_id = 0
        self.username = ""
        self.session_key: str | None = None  # the login session the socket opened with
        self.streams: dict[int, Stream] = {}
        self.online: set[int] = set()  # rooms where this connection counts for presence
        self.last_frame_at = 0.0  # loop time of the last frame from the client
        self.frame_lock = asyncio.Lock()  # held while a client frame is being handled
        self.raw_send: wire.RawSend | None = None  # writes the hub's pre-built frames
        self._early_pushes: list[tuple[int | None, str, int]] = []

    # --- provided by the consumer --------------------------------------------------

    async def _send_text(self, text: str) -> None:
        raise NotImplementedError

    async def _close(self, code: int) -> None:
        raise NotImplementedError

    async def counts_changed(self, room_id: int, frame: str) -> None:
        """A room.read frame for this user (all-rooms connections only)."""

    async def membership_changed(self, room_id: int, slug: str, action: str, reason: str) -> None:
        """This user joined or left a room (all-rooms connections only)."""

    def kicked(self, room_id: int | None, code: int) -> bool:
        """Whether a kick (every room, or one) closes this connection."""
        return room_id is None or (not self.all_rooms and room_id in self.streams)

    # --- called by the hub ---------------------------------------------------------

    async def deliver(
        self, room_id: int, seq: int, frame: str, wire_frame: bytes | None = None
    ) -> None:
        """A room's message event, in the hub's seq order. `wire_frame` is `frame`
        already framed for the socket (chat/realtime/wire.py), if built."""
        stream = self.streams.get(room_id)
        if stream is None:
            return
        order = stream.order
        if (
            self.state is State.OPEN
            and wire_frame is not None
            and self.raw_send is not None
            and not stream.queued
            and not stream.lock.locked()
            and order.next_in_line(seq)
            and self.raw_send(wire_frame)
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

    async def push(
        self,
        room_id: int | None,
        frame: str,
        wire_frame: bytes | None = None,
        *,
        after_seq: int = 0,
    ) -> None:
        """A frame outside the message stream: about a room this connection carries
        (presence, typing, room.read, reaction), or about no room (`room_id` None:
        user.updated). With `after_seq` (a reaction: its message's seq) it is written
        only after the stream has written that seq, reading it first if need be."""
        if self.state == State.CONNECTING:
            if len(self._early_pushes) < MAX_EARLY_PUSHES:
                self._early_pushes.append((room_id, frame, after_seq))
            return
        if self.state != State.OPEN:
            return
        if room_id is None:
            await self._write(frame, wire_frame)
            return
        stream = self.streams.get(room_id)
        if stream is None or not stream.order.started:
            return
        if after_seq and (stream.delivered < after_seq or stream.queued or stream.lock.locked()):
            # Its message is held behind a gap or queued: in line after it (FIFO lock).
            task = asyncio.get_running_loop().create_task(
                self._push_after(stream, after_seq, frame)
            )
            stream.queued.add(task)
            task.add_done_callback(stream.queued.discard)
            return
        await self._write(frame, wire_frame)

    async def _push_after(self, stream: Stream, after_seq: int, frame: str) -> None:
        try:
            async with stream.lock:
                read = stream.order.catch_up(after_seq)
                if read is not None and self.state == State.OPEN:
                    await self._carry_out(stream, Decision(read=read))
                if self.state == State.OPEN:
                    await self._write(frame)
        except Exception:
            logger.exception("push to one connection failed")

    async def catch_up(self, room_id: int, up_to: int) -> None:
        """Deliver every saved message of the room up to seq `up_to` not yet written."""
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
            await self._close(code)

    # --- for the consumer ----------------------------------------------------------

    async def start_stream(
        self,
        stream: Stream,
        delivered: int,
        backlog: Sequence[tuple[int, str]] = (),
        through: int | None = None,
    ) -> None:
        """Begin writing the room's messages after seq `delivered` (`backlog` first),
        then the events that came meanwhile."""
        async with stream.lock:
            await self._carry_out(stream, stream.order.start(delivered, backlog, through))

    async def opened(self) -> None:
        """The hello is sent: write what waited for it."""
        self.state = State.OPEN
        pushes, self._early_pushes = self._early_pushes, []
        for room_id, frame, after_seq in pushes:
            await self.push(room_id, frame, after_seq=after_seq)

    async def _carry_out(
        self,
        stream: Stream,
        decision: Decision,
        seq: int | None = None,
        wire_frame: bytes | None = None,
    ) -> None:
        # Caller holds stream.lock. A write that raises stops here: the stream's
        # position stays before it, so the frame is read back when the gap shows.
        while True:
            for at, frame in decision.send:
                if frame is not None:
                    if self.state >= State.CLOSING:
                        return
                    await self._write(frame, wire_frame if at == seq else None)
                stream.order.written(at)
            if decision.read is None:
                return
            rows = await reads.messages(stream.room_id, decision.read)
            decision = stream.order.filled(decision.read, rows)

    async def _write(self, frame: str, wire_frame: bytes | None = None) -> None:
        # A frame many sockets get: written as pre-built bytes where the server offers
        # that (daphne, see chatsite/daphne_adapter/), else sent through ASGI.
        if wire_frame is None or self.raw_send is None or not self.raw_send(wire_frame):
            await self._send_text(frame)
