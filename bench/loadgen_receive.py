"""What a worker's clients receive, checked and counted: per phase loss, duplicates, order
and latency, and the other frames (hello, ack, error). It sends nothing.

Every message body is ``<tag>:<sender>:<n>:<scheduled_ns>`` (bench/loadgen_phase.py).
Each receiver checks, per phase:

- loss: expected deliveries (every scheduled message of every sender in its room) not
  received when the phase's drain timeout ends;
- duplicates: the same (sender, n) twice;
- order: per sender, n must increase; for the project also ``seq`` must strictly
  increase per room on the connection (checked for every ``message`` frame,
  ``hello.history`` included; on the all-rooms endpoint ``/ws/chat/`` each room's stream
  starts after its ``hello.rooms[].last_seq``).

Latency is ``receive time - scheduled send time`` per delivery.
"""

import asyncio
import json
from array import array
from collections import Counter
from typing import TYPE_CHECKING

from bench.loadgen_specs import PhaseSpec

if TYPE_CHECKING:
    from bench.loadgen_conn import Conn

_MESSAGE_PREFIXES = (b'{"type":"message",', b'{"type": "message",')
_MESSAGE_TYPE = b'"type":"message",'
_TYPE_WITHIN = 120  # bytes: a "room" field may come before "type"


def parse_message(data: bytes) -> tuple[bytes, int | None, bytes] | None:
    """(room slug or b"", seq or None, body) of a ``message`` frame, without a full JSON
    parse.

    The fast path understands the project's compact frames (``type`` first, or after a
    top-level ``room``) and the baseline's ``json.dumps`` default spacing, for bodies
    without quotes or escapes (every body the generator sends). Anything else returns
    None and is parsed with json.
    """
    if not data.startswith(_MESSAGE_PREFIXES) and not (
        data.startswith(b'{"room":') and data.find(_MESSAGE_TYPE, 0, _TYPE_WITHIN) > 0
    ):
        return None
    room = b""
    at = data.find(b'"room":"')
    if at >= 0:
        end = data.find(b'"', at + 8)
        if end < 0:
            return None
        room = data[at + 8 : end]
    seq: int | None = None
    at = data.find(b'"seq":')
    if at >= 0:
        start = at + 6
        end = start
        while end < len(data) and data[end] in b" 0123456789":
            end += 1
        seq = int(data[start:end])
    at = data.find(b'"body":')
    if at < 0:
        return None
    start = at + 7
    if data[start : start + 1] == b" ":
        start += 1
    if data[start : start + 1] != b'"':
        return None
    end = data.find(b'"', start + 1)
    if end < 0 or data.find(b"\\", start, end) >= 0:
        return None
    return room, seq, data[start + 1 : end]


class PhaseTally:
    """One phase's figures on one worker, filled as deliveries arrive."""

    def __init__(self, spec: PhaseSpec, receivers: int) -> None:
        self.spec = spec
        self.tag = spec.tag.encode()
        self.lat_us = array("q")
        self.lat_by_server: dict[str, array[int]] = {}  # receiving server's origin -> lat_us
        self.received = 0
        self.dups = 0
        self.sender_order_violations = 0
        self.seq_violations = 0
        self.foreign = 0
        self.first_recv_ns = 0
        self.last_recv_ns = 0
        self.pending_receivers = receivers
        self.done = asyncio.Event()
        if receivers == 0:
            self.done.set()


class Receiver:
    """Every frame a worker's connections receive: the running phase's tally (``phase``,
    set by bench/loadgen_phase.py) and the counters outside it."""

    def __init__(self) -> None:
        self.phase: PhaseTally | None = None
        self.late = 0  # tagged messages arriving after their phase ended
        self.seq_violations_outside = 0
        self.acks = 0
        self.acked: dict[str, tuple[int, str, str]] = {}  # client_id -> (seq, room, body)
        self.resumed_incomplete = 0
        self.errors: Counter[str] = Counter()
        self.other_frames: Counter[str] = Counter()
        self.bad_frames = 0

    def on_text(self, conn: "Conn", data: bytes, now: int) -> None:
        parsed = parse_message(data)
        if parsed is None:
            self._on_other(conn, data, now)
            return
        self._on_message(conn, *parsed, now)

    def _seq_ok(self, conn: "Conn", room: bytes, seq: int | None) -> bool:
        """Advance the connection's seq of the room; False if seq did not increase."""
        if seq is None:
            return True
        if seq <= conn.last_seq.get(room, 0):
            return False
        conn.last_seq[room] = seq
        return True

    def _on_message(
        self, conn: "Conn", room: bytes, seq: int | None, body: bytes, now: int
    ) -> None:
        phase = self.phase
        parts = body.split(b":")
        if phase is None or len(parts) != 4 or parts[0] != phase.tag:
            self.late += 1
            if not self._seq_ok(conn, room, seq):
                if phase is not None:
                    phase.seq_violations += 1
                else:
                    self.seq_violations_outside += 1
            return
        sender, n = int(parts[1]), int(parts[2])
        seen = conn.seen.get(sender)
        if seen is None:
            seen = conn.seen[sender] = set()
        if n in seen:
            phase.dups += 1
            return
        seen.add(n)
        if not self._seq_ok(conn, room, seq):
            phase.seq_violations += 1
        if n < conn.last_n.get(sender, -1):
            phase.sender_order_violations += 1
        else:
            conn.last_n[sender] = n
        latency = (now - int(parts[3])) // 1000
        phase.lat_us.append(latency)
        conn.lat_us.append(latency)
        phase.received += 1
        if not phase.first_recv_ns:
            phase.first_recv_ns = now
        phase.last_recv_ns = now
        conn.received += 1
        if conn.received == conn.expected:
            phase.pending_receivers -= 1
            if phase.pending_receivers == 0:
                phase.done.set()

    def _on_other(self, conn: "Conn", data: bytes, now: int) -> None:
        try:
            frame = json.loads(data)
            kind = frame["type"]
        except (ValueError, KeyError, TypeError):
            self.bad_frames += 1
            return
        if kind == "hello":
            conn.hello_bytes = len(data)
            rooms = frame.get("rooms")
            if isinstance(rooms, list):  # all-rooms: each stream starts after last_seq
                conn.hello_rooms = len(rooms)
                for entry in rooms:
                    slug = str(entry["slug"]).encode()
                    conn.last_seq[slug] = max(conn.last_seq.get(slug, 0), int(entry["last_seq"]))
            if conn.resumes:
                # A resumed hello: its history is the messages missed while away, and
                # they count like live ones (loss, duplicates, order, latency).
                resumed = frame.get("resumed")
                if isinstance(resumed, dict) and not resumed.get("complete", True):
                    self.resumed_incomplete += 1
                for message in frame.get("history") or []:
                    body = message.get("body")
                    stream = str(message.get("room", "")).encode()
                    if isinstance(body, str):
                        self._on_message(conn, stream, message.get("seq"), body.encode(), now)
            for message in [] if conn.resumes else frame.get("history") or []:
                slug = str(message.get("room", "")).encode()
                conn.last_seq[slug] = max(conn.last_seq.get(slug, 0), int(message["seq"]))
            if not conn.hello.done():
                conn.hello.set_result(None)
        elif kind == "message":  # a shape the fast path does not parse
            message = frame["message"]
            room = frame.get("room", message.get("room", ""))
            if not isinstance(room, str):
                room = ""
            seq = message.get("seq")
            body = message.get("body")
            if isinstance(body, str):
                self._on_message(conn, room.encode(), seq, body.encode(), now)
            else:
                self.late += 1
        elif kind == "ack":
            self.acks += 1
            client_id = str(frame.get("client_id", ""))
            conn.unacked.pop(client_id.encode(), None)
            message = frame.get("message") or {}
            self.acked[client_id] = (
                int(message.get("seq", 0)),
                str(message.get("room", conn.spec.room)),
                str(message.get("body", "")),
            )
        elif kind == "error":
            self.errors[str(frame.get("code"))] += 1
        else:  # e.g. presence: counted, otherwise ignored
            self.other_frames[str(kind)] += 1
