"""What every part of the chat consumer shares: the connection's rooms by slug, the
preview being watched, and the process's realtime runtime. The consumer is this base
plus its client commands (commands.py) and its room changes (rooms.py)."""

import asyncio
from typing import Any

from chat import realtime
from chat.limits import policy
from chat.realtime.connection import Connection, Stream
from chat.selectors import RoomState


class ConsumerBase(Connection):
    scope: dict[str, Any]  # set by channels before connect

    def __init__(self, *, all_rooms: bool = False) -> None:
        super().__init__()
        self.all_rooms = all_rooms
        self.ip: str | None = None
        self.by_slug: dict[str, Stream] = {}  # the rooms this connection carries
        self.watching: Stream | None = None  # all rooms: a public room previewed
        self._last_typing_at: dict[int, float] = {}
        self._slot: policy.Slot | None = None  # this connection's share of the caps
        # This process's realtime machinery, as of the connection's start (consumers are
        # built inside the server's event loop; tests swap layers between connections).
        self.runtime = realtime.current()
        self._rooms_lock = asyncio.Lock()  # joins and leaves of rooms, one at a time
        self._held_membership: list[tuple[int, str, str, str]] = []  # came before hello

    def _add_stream(self, room_id: int, slug: str, *, counted: bool) -> Stream:
        stream = self.streams[room_id] = Stream(room_id, slug, counted=counted)
        self.by_slug[slug] = stream
        return stream

    def _drop_stream(self, room_id: int) -> None:
        stream = self.streams.pop(room_id, None)
        if stream is not None and self.by_slug.get(stream.slug) is stream:
            del self.by_slug[stream.slug]
        if stream is not None and stream is self.watching:
            self.watching = None


def public(room: RoomState) -> dict[str, object]:
    """A hello.rooms / room.joined entry as the protocol shows it (no database id)."""
    return {key: value for key, value in room.items() if key != "id"}
