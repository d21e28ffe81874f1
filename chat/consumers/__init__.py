"""WebSocket consumers: the chat connection (both endpoints) and the diagnostic echo.

The chat consumer (chat.py) is channels' adapter; it owns its collaborators instead of
inheriting them: the connection state (state.py), opening and closing (opening.py), room
joins, leaves and watches (rooms.py), and one handler per client frame (handlers.py).

Verbs, one per meaning, here and in chat/realtime/connection.py:
- `send`: put one frame on this socket. `ConnectionState.send(frame)` encodes and calls
  the realtime `Connection.send(text, wire_frame)`, which takes the server's raw writer
  (the `chat.websocket.raw_send` extension, bytes built once) or channels' ASGI send.
- `deliver` / `deliver_frame`: the hub hands an event to a connection, which orders it
  (seq order, after the hello, after a reaction's message) and then sends it.
- `handle`: run a parsed client frame's handler; it returns the answer, never sends.
"""

from chat.consumers.chat import ChatConsumer
from chat.consumers.echo import EchoConsumer
from chat.protocol.codes import LOST_ACCESS

__all__ = [
    "LOST_ACCESS",
    "ChatConsumer",
    "EchoConsumer",
]
