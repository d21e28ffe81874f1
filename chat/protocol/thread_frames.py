"""The client frames about threads: follow or unfollow one, mark it read, list the
followed ones (docs/protocol.md, "Threads"). Pure, like chat/protocol/parsing.py, which
dispatches to these."""

from dataclasses import dataclass
from typing import Any

from chat.errors import ChatError
from chat.protocol import fields
from chat.protocol.codes import ErrorCode

MAX_THREADS_LIMIT = 50
DEFAULT_THREADS_LIMIT = 20
MAX_CURSOR_CHARS = 100


@dataclass(frozen=True, slots=True)
class FollowThread:
    room: str
    root: int
    following: bool


@dataclass(frozen=True, slots=True)
class ReadThread:
    room: str
    root: int
    seq: int


@dataclass(frozen=True, slots=True)
class FetchThreads:
    unread: bool  # only the threads with something unread
    before: str | None  # the `next` cursor of the previous page
    limit: int


def parse_follow(data: dict[str, Any]) -> FollowThread:
    return FollowThread(
        room=fields.room_slug(data),
        root=fields.message_id(data, "root"),
        following=fields.boolean(data, "following"),
    )


def parse_read(data: dict[str, Any]) -> ReadThread:
    return ReadThread(
        room=fields.room_slug(data), root=fields.message_id(data, "root"), seq=fields.seq(data)
    )


def parse_fetch_threads(data: dict[str, Any]) -> FetchThreads:
    before = data.get("before")
    if before is not None and (
        not isinstance(before, str) or not before or len(before) > MAX_CURSOR_CHARS
    ):
        raise ChatError(ErrorCode.BAD_FRAME, '"before" must be null or a "next" cursor.')
    limit = data.get("limit", DEFAULT_THREADS_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_THREADS_LIMIT:
        raise ChatError(
            ErrorCode.BAD_FRAME, f'"limit" must be an integer from 1 to {MAX_THREADS_LIMIT}.'
        )
    return FetchThreads(
        unread=fields.boolean(data, "unread", default=False), before=before, limit=limit
    )
