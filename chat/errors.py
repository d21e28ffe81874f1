"""The error every layer raises for a client mistake: a machine-readable code plus a
sentence a person can read. Never carries internals (tracebacks, SQL, paths). The codes
and what they mean live in chat/protocol/codes.py."""

from typing import NotRequired, TypedDict

from chat.protocol.codes import ErrorCode


class ErrorFrame(TypedDict):
    type: str
    code: str
    detail: str
    client_id: NotRequired[str]  # set when the error answers a message.send


class ChatError(Exception):
    def __init__(self, code: ErrorCode, detail: str, *, client_id: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.client_id = client_id

    def as_frame(self, client_id: str | None = None) -> ErrorFrame:
        frame: ErrorFrame = {"type": "error", "code": self.code, "detail": self.detail}
        if client_id := self.client_id or client_id:
            frame["client_id"] = client_id
        return frame
