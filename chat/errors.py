"""The error every layer raises for a client mistake: a machine-readable code plus a
sentence a person can read. Never carries internals (tracebacks, SQL, paths)."""

from typing import NotRequired, TypedDict


class ErrorFrame(TypedDict):
    type: str
    code: str
    detail: str
    client_id: NotRequired[str]  # set when the error answers a message.send


class ChatError(Exception):
    def __init__(self, code: str, detail: str, *, client_id: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.client_id = client_id

    def as_frame(self, client_id: str | None = None) -> ErrorFrame:
        frame: ErrorFrame = {"type": "error", "code": self.code, "detail": self.detail}
        if client_id := self.client_id or client_id:
            frame["client_id"] = client_id
        return frame
