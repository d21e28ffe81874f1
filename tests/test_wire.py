"""The pre-built frames the hub writes to many sockets are valid WebSocket frames."""

import struct

import pytest

from chat.realtime import wire


def parse(frame: bytes) -> tuple[int, str]:
    """Decode one unmasked server frame (RFC 6455 section 5.2): (first byte, payload)."""
    first, second = frame[0], frame[1]
    assert second & 0x80 == 0, "server frames are never masked"
    size, offset = second & 0x7F, 2
    if size == 126:
        (size,), offset = struct.unpack("!H", frame[2:4]), 4
    elif size == 127:
        (size,), offset = struct.unpack("!Q", frame[2:10]), 10
    payload = frame[offset:]
    assert len(payload) == size
    return first, payload.decode()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_round_trips_every_length_class(size: int) -> None:
    payload = "x" * size
    assert parse(wire.text_frame(payload)) == (0x81, payload)


def test_text_frame_counts_utf8_bytes_not_characters() -> None:
    payload = "ü€😀" * 40  # 120 characters, 360 bytes: needs the 16-bit length
    frame = wire.text_frame(payload)
    assert frame[1] == 126
    assert parse(frame) == (0x81, payload)


def test_scope_without_the_extension_has_no_raw_send() -> None:
    assert wire.raw_send_for({"type": "websocket"}) is None
    assert wire.raw_send_for({"extensions": {wire.RAW_SEND_EXTENSION: "no"}}) is None
