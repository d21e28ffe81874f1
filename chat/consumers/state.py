"""What one chat connection knows, shared by the consumer's collaborators (opening.py,
rooms.py, handlers.py): the user, the realtime connection that delivers its rooms, the
preview being watched, its share of the caps. State and lookups only: no ORM here."""

import asyncio
from typing import Any

from chat import events, realtime, selectors
from chat.database import dbcalls
from chat.errors import ChatError
from chat.limits import policy
from chat.protocol.codes import ErrorCode
from chat.realtime.connection import Connection, Stream
from chat.selectors import RoomState

NOT_JOINED = ChatError(ErrorCode.NOT_JOINED, "You have not joined this room.")


class ConnectionState:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn  # the realtime side: streams, seq order, the socket
        self.user: Any = None  # scope["user"] once connect() checked it (channels: untyped)
        self.ip: str | None = None
        self.watching: Stream | None = None  # all rooms: a public room previewed
        self.last_typing_at: dict[tuple[int, int | None], float] = {}  # (room, thread)
        self.slot: policy.Slot | None = None  # this connection's share of the caps
        # This process's realtime machinery, as of the connection's start (consumers are
        # built inside the server's event loop; tests swap layers between connections).
        self.runtime = realtime.current()
        self.rooms_lock = asyncio.Lock()  # joins and leaves of rooms, one at a time

    @property
    def all_rooms(self) -> bool:
        return self.conn.all_rooms

    async def send(self, frame: dict[str, object]) -> None:
        """Put one frame on this socket (encoded here)."""
        await self.conn.send(events.encode(frame))

    def add_stream(self, room_id: int, slug: str, *, counted: bool) -> Stream:
        return self.conn.add_stream(room_id, slug, counted=counted)

    def drop_stream(self, room_id: int) -> None:
        stream = self.conn.drop_stream(room_id)
        if stream is not None and stream is self.watching:
            self.watching = None

    def joined(self, slug: str | None) -> Stream:
        """The stream of a room the user joined (the per-room endpoint: its room).
        A local lookup: joins and leaves reach this connection as events."""
        if slug is None:
            return next(iter(self.conn.streams.values()))
        stream = self.conn.by_slug.get(slug)
        if stream is None or not stream.counted:
            raise NOT_JOINED
        return stream

    async def readable(self, slug: str | None) -> int:
        """The id of a room the user may read (access itself is the service's check)."""
        if slug is None:
            return next(iter(self.conn.streams))
        stream = self.conn.by_slug.get(slug)
        if stream is not None:
            return stream.room_id
        room, access = await dbcalls.read(
            selectors.room_with_access, slug=slug, user_id=self.conn.user_id
        )
        if room is None:
            raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
        if not access["read"]:
            raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
        return int(room["id"])


def public(room: RoomState) -> dict[str, object]:
    """A hello.rooms / room.joined entry as the protocol shows it (no database id)."""
    return {key: value for key, value in room.items() if key != "id"}
