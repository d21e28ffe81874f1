"""WebSocket consumers: the chat connection (both endpoints) and the diagnostic echo."""

from chat.consumers.chat import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_ROOM_NOT_FOUND,
    CLOSE_SERVICE_RESTART,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
    LOST_ACCESS,
    ChatConsumer,
)
from chat.consumers.echo import EchoConsumer

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
