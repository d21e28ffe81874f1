"""A connection's fast write (the next seq of an idle stream, pre-built bytes written at
once) and its fallbacks: the ordinary ordered path whenever anything is pending or the
raw writer refuses."""

import asyncio

from chat.realtime import wire
from chat.realtime.connection import Connection, State, Stream


class Recorder(Connection):
    """A connection whose ASGI sends and raw writes are recorded, not made: both are
    handed in, as the consumer hands in channels' send."""

    def __init__(self, *, raw_accepts: bool = True) -> None:
        self.raw: list[bytes] = []
        self.texts: list[str] = []
        self.raw_accepts = raw_accepts
        super().__init__(asgi_send=self._asgi, asgi_close=self._closed)
        self.raw_send = self._raw

    def _raw(self, data: bytes) -> bool:
        if self.raw_accepts:
            self.raw.append(data)
        return self.raw_accepts

    async def _asgi(self, text: str) -> None:
        self.texts.append(text)

    async def _closed(self, code: int) -> None:
        raise AssertionError("not closed in these tests")


async def opened(conn: Recorder) -> Stream:
    stream = conn.add_stream(1, "room", counted=True)
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
    # In order, and raw too: its bytes built once where the hub had not built them.
    assert conn.raw == [wire.text_frame("m1"), wire.text_frame("m2")]
    assert conn.texts == []


async def test_nothing_is_written_once_closing() -> None:
    conn = Recorder()
    stream = await opened(conn)
    conn.state = State.CLOSING
    await conn.deliver(1, 1, "m1", wire.text_frame("m1"))
    assert conn.raw == []
    assert conn.texts == []
    assert stream.delivered == 0


async def test_an_own_frame_goes_raw_once_open_and_through_asgi_before() -> None:
    conn = Recorder()
    await conn.send("before the hello")  # the accept went through ASGI: nothing overtakes it
    await opened(conn)
    await conn.send("ack")
    assert conn.texts == ["before the hello"]
    assert conn.raw == [wire.text_frame("ack")]


async def test_a_refused_raw_write_is_tried_once_then_sent_through_asgi() -> None:
    conn = Recorder(raw_accepts=False)
    await opened(conn)
    tried: list[bytes] = []

    def refuse(data: bytes) -> bool:
        tried.append(data)
        return False

    conn.raw_send = refuse
    await conn.deliver_frame(None, "user.updated", wire.text_frame("user.updated"))
    assert tried == [wire.text_frame("user.updated")]  # the hub's bytes, not rebuilt
    assert conn.texts == ["user.updated"]


async def test_room_changes_wait_for_the_hello_and_stop_once_closing() -> None:
    seen: list[tuple[int, str, str, str]] = []

    async def changed(room_id: int, slug: str, action: str, reason: str) -> None:
        seen.append((room_id, slug, action, reason))

    async def asgi(text: str) -> None:
        pass

    async def close(code: int) -> None:
        pass

    conn = Connection(asgi_send=asgi, asgi_close=close, all_rooms=True, membership_changed=changed)
    await conn.membership_changed(2, "two", "joined", "")
    assert seen == []
    await conn.opened()
    assert seen == [(2, "two", "joined", "")]
    await conn.close(4403)
    await conn.membership_changed(3, "three", "joined", "")
    assert seen == [(2, "two", "joined", "")]
