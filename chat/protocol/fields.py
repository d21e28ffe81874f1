"""The checks one field of a client frame gets, shared by every frame's parser. Pure:
each returns the value or raises ChatError with a documented code."""

from typing import Any

from chat.errors import ChatError
from chat.protocol.codes import ErrorCode

MAX_SLUG_CHARS = 100
MAX_ID = 2**63  # a database id (bigint)


def room_slug(data: dict[str, Any], *, client_id: str | None = None) -> str:
    room = data.get("room")
    if not isinstance(room, str) or not room or len(room) > MAX_SLUG_CHARS:
        raise ChatError(
            ErrorCode.BAD_FRAME, 'This frame needs "room": a room\'s slug.', client_id=client_id
        )
    return room


def is_id(value: object) -> bool:
    """A positive integer that fits a database id (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < MAX_ID


def message_id(data: dict[str, Any], field: str = "id") -> int:
    value = data.get(field)
    if not is_id(value):
        raise ChatError(
            ErrorCode.BAD_FRAME, f'"{field}" must be a message id (a positive integer).'
        )
    assert isinstance(value, int)  # noqa: S101 - narrowed by is_id
    return value


def optional_id(data: dict[str, Any], field: str, *, client_id: str | None = None) -> int | None:
    """An optional message id: absent or null is None."""
    value = data.get(field)
    if value is None:
        return None
    if not is_id(value):
        raise ChatError(
            ErrorCode.BAD_FRAME, f'"{field}" must be null or a message id.', client_id=client_id
        )
    assert isinstance(value, int)  # noqa: S101 - narrowed by is_id
    return value


def seq(data: dict[str, Any]) -> int:
    value = data.get("seq")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ChatError(ErrorCode.BAD_FRAME, '"seq" must be a non-negative integer.')
    return value


def boolean(data: dict[str, Any], field: str, *, default: bool | None = None) -> bool:
    """A JSON true/false; absent is `default` (None: required)."""
    value = data.get(field, default)
    if not isinstance(value, bool):
        raise ChatError(ErrorCode.BAD_FRAME, f'"{field}" must be true or false.')
    return value
