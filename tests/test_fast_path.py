"""A connection's fast write (the next seq of an idle stream, pre-built bytes written at
once) and its fallbacks: the ordinary ordered path whenever anything is pending or the
raw writer refuses."""

import asyncio

from chat.realtime import wire
from chat.realtime.connection import Connection, State, Stream


class Recorder(Connection):
    """A connection whose ASGI sends and raw writes are recorded, not made."""

    def __init__(self, *, raw_accepts: bool = True) -> None:
        super().__init__()
        self.raw: list[bytes] = []
        self.texts: list[str] = []
        self.raw_accepts = raw_accepts
        self.raw_send = self._raw

    def _raw(self, data: bytes) -> bool:
        if self.raw_accepts:
            self.raw.append(data)
        return self.raw_accepts

    async def _send_text(self, text: str) -> None:
        self.texts.append(text)


async def opened(conn: Recorder) -> Stream:
    stream = Stream(1, "room")
    conn.streams[1] = stream
    await conn.start_stream(stream, 0)
    await conn.opened()
    assert conn.state is State.OPEN
    return stream


async def test_the_next_seq_is_written_raw_and_recorded_after_the_write() -> None:
    conn = Recorder()
    stream = await opened(conn)
    for seq in (1, 2):
        await conn.deliver(1, seq, f"m{seq}", wire.text_frame(f"m{seq}"))
    assert conn.raw == [wire.text_frame("m1"), wire.text_frame("m2")]
    assert conn.texts == []
    assert stream.delivered == 2


async def test_a_refused_raw_write_falls_back_to_asgi_and_still_counts() -> None:
    conn = Recorder(raw_accepts=False)
    stream = await opened(conn)
    await conn.deliver(1, 1, "m1", wire.text_frame("m1"))
    assert conn.texts == ["m1"]
    assert stream.delivered == 1


async def test_a_duplicate_is_dropped_and_a_frame_past_a_held_one_waits() -> None:
    conn = Recorder()
    stream = await opened(conn)
    await conn.deliver(1, 1, "m1", wire.text_frame("m1"))
    await conn.deliver(1, 1, "m1", wire.text_frame("m1"))  # duplicate: nothing
    assert len(conn.raw) == 1
    # While the stream's lock is held (a gap being filled), even the next seq queues.
    async with stream.lock:
        await conn.deliver(1, 2, "m2", wire.text_frame("m2"))
        assert stream.delivered == 1
    await asyncio.sleep(0)  # the queued delivery runs once the lock is free
    await asyncio.gather(*stream.queued)
    assert stream.delivered == 2
    assert conn.texts + [r.decode()[2:] for r in conn.raw[1:]] == ["m2"] or conn.raw[-1].endswith(
        b"m2"
    )


async def test_nothing_is_written_once_closing() -> None:
    conn = Recorder()
    stream = await opened(conn)
    conn.state = State.CLOSING
    await conn.deliver(1, 1, "m1", wire.text_frame("m1"))
    assert conn.raw == []
    assert conn.texts == []
    assert stream.delivered == 0
