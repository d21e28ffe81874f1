"""WebSocket wire frames built once and written to many sockets (no I/O here).

A server's frames are not masked, so the bytes of one text frame are the same for every
recipient: the hub builds them once per event instead of once per connection. The
server integration (chatsite/daphne_adapter/) offers a writer for them to each consumer
through the ASGI scope's extensions; without it consumers send through ASGI as usual.
"""

import struct
from collections.abc import Callable

# Key in scope["extensions"]: a callable taking a whole frame's bytes, returning False
# when it could not write them (then the caller sends through ASGI instead).
RAW_SEND_EXTENSION = "chat.websocket.raw_send"

RawSend = Callable[[bytes], bool]

_FIN_TEXT = 0x81  # FIN bit + opcode 1 (text)


def text_frame(payload: str) -> bytes:
    """The complete unmasked, unfragmented, uncompressed frame carrying `payload`."""
    data = payload.encode()
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", _FIN_TEXT, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + data


def raw_send_for(scope: dict[str, object]) -> RawSend | None:
    extensions = scope.get("extensions")
    if isinstance(extensions, dict):
        found = extensions.get(RAW_SEND_EXTENSION)
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None
