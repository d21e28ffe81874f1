"""A room's message stream put in seq order: a pure object that is told what arrived and
answers what to do. No I/O, no Django, no asyncio: the hub and every connection drive
one each per room stream and carry out its answers (write frames, read the database).

Protocol with the caller (one caller at a time per object):
- `offer(seq, frame)` for each event, `start(...)` once the stream's starting point is
  known (events offered before it are the *early* ones: they beat the hello, and are
  kept, up to `early_limit`, until then);
- each answer is a `Decision`: write `send` in order, calling `written(seq)` after each
  write that succeeded (entries whose frame is None are holes: nothing to write, call
  `written` all the same); then, if `read` is set, read those messages from the
  database (at most READ_CHUNK) and hand them to `filled(read, rows)`, which answers
  the same way. A write that fails stops the caller: the frames after it are forgotten
  and read again from the database when the next event reveals the gap.
"""

from collections.abc import Sequence
from dataclasses import dataclass

# Messages read per database query when filling a gap or catching up. One value for the
# hub and the connections: a fill bigger than this takes several reads.
READ_CHUNK = 500
# Events kept for a stream whose start (its hello) is still being prepared. Past it they
# are dropped; the first later event (or the periodic sync) reveals the gap and the
# stream reads them from the database.
MAX_EARLY_EVENTS = 1000
# Events kept past a gap while the missing ones are awaited. Past it they are dropped
# and read from the database with the gap.
MAX_HELD_EVENTS = 10_000

Frame = tuple[int, str | None]  # (seq, frame text); None: a seq with nothing to send


@dataclass(frozen=True, slots=True)
class Read:
    """Read the room's messages with `after < seq <= up_to`, oldest first, at most
    READ_CHUNK of them."""

    after: int
    up_to: int


@dataclass(frozen=True, slots=True)
class Decision:
    send: tuple[Frame, ...] = ()  # in this order; call written(seq) after each
    read: Read | None = None  # then read these from the database, hand them to filled()


NOTHING = Decision()


class SeqOrder:
    """One room stream: hands out each seq once, in increasing order."""

    def __init__(
        self, *, early_limit: int = MAX_EARLY_EVENTS, held_limit: int = MAX_HELD_EVENTS
    ) -> None:
        self.started = False
        # Highest seq written (or known to have no message): the stream's position.
        self.delivered = 0
        self._early: list[tuple[int, str]] = []
        self._early_limit = early_limit
        self._held: dict[int, str] = {}  # past a gap, by seq
        self._held_limit = held_limit
        self._cursor = 0  # where the last decision leaves the stream once written

    # --- input ---------------------------------------------------------------------

    def start(
        self,
        delivered: int,
        backlog: Sequence[tuple[int, str]] = (),
        through: int | None = None,
    ) -> Decision:
        """The stream begins after seq `delivered`. `backlog`: the messages with
        `delivered < seq <= through`, oldest first, all of them (seqs missing there
        were deleted); they are sent first. Early events follow, duplicates dropped."""
        if self.started:
            raise RuntimeError("a stream starts once")
        self.started = True
        self.delivered = delivered
        early, self._early = self._early, []
        for seq, frame in backlog:
            self._hold(seq, frame, bounded=False)
        for seq, frame in early:
            self._hold(seq, frame)
        return self._release(holes_through=through if through is not None else delivered)

    def offer(self, seq: int, frame: str) -> Decision:
        """An event from the channel layer (or the hub), in whatever order it came."""
        if not self.started:
            if len(self._early) < self._early_limit:
                self._early.append((seq, frame))
            return NOTHING
        self._hold(seq, frame)
        return self._release()

    def filled(self, read: Read, rows: Sequence[tuple[int, str]]) -> Decision:
        """The answer to `read`: rows as the database returned them (at most
        READ_CHUNK, oldest first). Fewer than READ_CHUNK means every seq up to
        `read.up_to` missing from them has no message (deleted)."""
        for seq, frame in rows:
            if read.after < seq <= read.up_to:
                self._hold(seq, frame, bounded=False)
        if len(rows) < READ_CHUNK:
            return self._release(holes_through=read.up_to)
        # A full chunk: the seqs it skipped have no message; the rest is still to read.
        decision = self._release(holes_through=rows[-1][0])
        if self._cursor >= read.up_to:
            return decision
        up_to = min(read.up_to, min(self._held) - 1) if self._held else read.up_to
        return Decision(decision.send, Read(self._cursor, up_to))

    def gap(self) -> Read | None:
        """What to read to close the current gap, if there is one (after holding the
        events past it for a while, the hub asks again: they may have arrived)."""
        if not self.started or not self._held:
            return None
        return Read(self.delivered, min(self._held) - 1)

    def catch_up(self, up_to: int) -> Read | None:
        """What to read so that the stream reaches seq `up_to`, known to be committed."""
        if not self.started or up_to <= self.delivered:
            return None
        if self._held:
            up_to = min(up_to, min(self._held) - 1)
        return Read(self.delivered, up_to) if up_to > self.delivered else None

    def flush(self) -> Decision:
        """Give up on the gap (the database is unreachable): everything held, in seq
        order, past the holes. Whoever receives it fills them later on its own."""
        send = tuple(sorted(self._held.items()))
        self._held.clear()
        return Decision(send)

    def next_in_line(self, seq: int) -> bool:
        """Whether `seq` is the very next one with nothing held or pending: the caller
        may write it at once and call written(seq), no Decision needed (the common
        case of a live stream, taken once per recipient)."""
        return self.started and not self._held and seq == self.delivered + 1

    def written(self, seq: int) -> None:
        """Record that `seq`'s frame was written (or that it has no message)."""
        self.delivered = max(self.delivered, seq)

    # --- inside --------------------------------------------------------------------

    def _hold(self, seq: int, frame: str, *, bounded: bool = True) -> None:
        # Rows read from the database are always kept: they are what closes the gap.
        if seq <= self.delivered or seq in self._held:
            return
        if not bounded or len(self._held) < self._held_limit:
            self._held[seq] = frame

    def _release(self, holes_through: int = 0) -> Decision:
        send: list[Frame] = []
        cursor = self.delivered
        while True:
            nxt = cursor + 1
            if nxt in self._held:
                send.append((nxt, self._held.pop(nxt)))
                cursor = nxt
            elif nxt <= holes_through:
                later = [seq for seq in self._held if seq <= holes_through]
                cursor = min(later) - 1 if later else holes_through
            else:
                break
        if cursor > self.delivered and (not send or send[-1][0] < cursor):
            send.append((cursor, None))  # holes at the end: the position moves past them
        self._cursor = cursor
        read = Read(cursor, min(self._held) - 1) if self._held else None
        return Decision(tuple(send), read)
