"""The error every layer raises for a client mistake: a machine-readable code plus a
sentence a person can read. Never carries internals (tracebacks, SQL, paths)."""

from typing import TypedDict


class ErrorFrame(TypedDict):
    type: str
    code: str
    detail: str


class ChatError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def as_frame(self) -> ErrorFrame:
        return {"type": "error", "code": self.code, "detail": self.detail}
