"""WebSocket consumers: the chat connection (both endpoints) and the diagnostic echo."""

from chat.consumers.chat import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_ROOM_NOT_FOUND,
    CLOSE_SERVICE_RESTART,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
    ChatConsumer,
)
from chat.consumers.echo import EchoConsumer
from chat.protocol.codes import LOST_ACCESS

__all__ = [
    "CLOSE_BAD_REQUEST",
    "CLOSE_FORBIDDEN",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_ROOM_NOT_FOUND",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_TOO_MANY",
    "CLOSE_UNAUTHENTICATED",
    "LOST_ACCESS",
    "ChatConsumer",
    "EchoConsumer",
]
