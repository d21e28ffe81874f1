"""Parse and validate client WebSocket frames into typed commands.

Pure: no Django, no I/O. Every rejection is a ChatError with a documented code
(docs/protocol.md), so the consumer can answer it and keep the connection.
"""

import json
from dataclasses import dataclass
from typing import Any

from chat.errors import ChatError

MAX_CLIENT_ID_CHARS = 64


@dataclass(frozen=True, slots=True)
class SendMessage:
    body: str
    client_id: str


Command = SendMessage


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
    raise ChatError("unknown_type", f"Unknown frame type {kind[:40]!r}.")


def _parse_send(data: dict[str, Any]) -> SendMessage:
    body = data.get("body")
    if body is None:
        raise ChatError("empty_body", 'A message needs a "body".')
    if not isinstance(body, str):
        raise ChatError("bad_frame", '"body" must be a string.')
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
    return SendMessage(body=body, client_id=client_id)
