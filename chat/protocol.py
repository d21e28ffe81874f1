"""Parse and validate client WebSocket frames into typed commands.

Pure: no Django, no I/O. Every rejection is a ChatError with a documented code
(docs/protocol.md), so the consumer can answer it and keep the connection.
"""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from chat.errors import ChatError

MAX_CLIENT_ID_CHARS = 64
MAX_FETCH_LIMIT = 100
DEFAULT_FETCH_LIMIT = 50


@dataclass(frozen=True, slots=True)
class SendMessage:
    body: str
    client_id: str


@dataclass(frozen=True, slots=True)
class FetchHistory:
    before: int
    limit: int


@dataclass(frozen=True, slots=True)
class Typing:
    pass


@dataclass(frozen=True, slots=True)
class EditMessage:
    id: int
    body: str


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    id: int


Command = SendMessage | FetchHistory | Typing | EditMessage | DeleteMessage


def parse_frame(text: str) -> Command:
    """Turn one text frame into a command, or raise ChatError."""
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        raise ChatError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ChatError("bad_frame", "A frame must be a JSON object.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ChatError("bad_frame", 'A frame needs a string "type".')
    if kind == "message.send":
        return _parse_send(data)
    if kind == "history.fetch":
        return _parse_fetch(data)
    if kind == "typing":
        return Typing()
    if kind == "message.edit":
        body = data.get("body")
        if not isinstance(body, str):
            raise ChatError("bad_frame", '"body" must be a string.')
        return EditMessage(id=_message_id(data), body=body)
    if kind == "message.delete":
        return DeleteMessage(id=_message_id(data))
    raise ChatError("unknown_type", f"Unknown frame type {kind[:40]!r}.")


def _parse_send(data: dict[str, Any]) -> SendMessage:
    # client_id first, so every later error can name the message it refuses.
    client_id = data.get("client_id")
    if (
        not isinstance(client_id, str)
        or not client_id
        or len(client_id) > MAX_CLIENT_ID_CHARS
        or not client_id.isprintable()
    ):
        raise ChatError(
            "bad_client_id",
            f'"client_id" must be a printable string of 1 to {MAX_CLIENT_ID_CHARS} characters.',
        )
    body = data.get("body")
    if body is None:
        raise ChatError("empty_body", 'A message needs a "body".', client_id=client_id)
    if not isinstance(body, str):
        raise ChatError("bad_frame", '"body" must be a string.', client_id=client_id)
    return SendMessage(body=body, client_id=client_id)


def _parse_fetch(data: dict[str, Any]) -> FetchHistory:
    before = data.get("before")
    if not isinstance(before, int) or isinstance(before, bool) or before < 1:
        raise ChatError("bad_frame", '"before" must be a positive integer seq.')
    limit = data.get("limit", DEFAULT_FETCH_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_FETCH_LIMIT:
        raise ChatError("bad_frame", f'"limit" must be an integer from 1 to {MAX_FETCH_LIMIT}.')
    return FetchHistory(before=before, limit=limit)


def parse_after(query_string: bytes) -> int | None:
    """The `after` seq of a resuming connection's query string, if any."""
    values = parse_qs(query_string.decode("latin-1")).get("after")
    if not values:
        return None
    try:
        after = int(values[-1])
    except ValueError:
        raise ChatError("bad_after", '"after" must be a non-negative integer seq.') from None
    if after < 0:
        raise ChatError("bad_after", '"after" must be a non-negative integer seq.')
    return after


def _message_id(data: dict[str, Any]) -> int:
    value = data.get("id")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ChatError("bad_frame", '"id" must be a message id (a positive integer).')
    return value
