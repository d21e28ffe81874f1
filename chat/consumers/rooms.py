"""Rooms joining and leaving a live all-rooms connection: the hub's membership events
and the client's room.join / room.watch. Changes the connection's streams and says so
to the client; no ORM here (reads go through chat/database/dbcalls.py)."""

from chat import selectors
from chat.consumers.state import ConnectionState, public
from chat.database import dbcalls
from chat.realtime import reads


class RoomChanges:
    def __init__(self, state: ConnectionState) -> None:
        self.state = state

    async def membership_changed(self, room_id: int, slug: str, action: str, reason: str) -> None:
        """The realtime connection's reaction to a join or leave (it holds them until
        the hello is sent and drops them once closing)."""
        if action == "joined":
            await self.joined(room_id, slug)
        elif action == "left":
            await self.left(room_id, slug, reason)

    async def joined(self, room_id: int, slug: str) -> None:
        """Carry the room (if not yet) and say so with room.joined to this connection."""
        state, conn = self.state, self.state.conn
        async with state.rooms_lock:
            hub = await state.runtime.hub()
            stream = conn.streams.get(room_id)
            if stream is None:
                stream = state.add_stream(room_id, slug, counted=True)
                await hub.join(conn, [room_id], online={room_id: slug})
                fresh = True
            elif not stream.counted:  # it was being watched: now it counts
                stream.counted = True
                state.watching = None
                await hub.join(conn, [room_id], online={room_id: slug})
                fresh = False
            else:
                fresh = False
            # Read after joining the hub: the stream starts after this last_seq.
            room = await dbcalls.read(selectors.user_room, user_id=conn.user_id, room_id=room_id)
            if room is None:  # left again, or banned, meanwhile
                if fresh:
                    await hub.leave(conn, [room_id])
                    state.drop_stream(room_id)
                return
            await state.send({"type": "room.joined", "room": public(room)})
            if fresh:
                await conn.start_stream(stream, room["last_seq"])

    async def left(self, room_id: int, slug: str, reason: str) -> None:
        state, conn = self.state, self.state.conn
        async with state.rooms_lock:
            stream = conn.streams.get(room_id)
            if stream is None or not stream.counted:
                return
            state.drop_stream(room_id)  # its events stop at once
            hub = await state.runtime.hub()
            await hub.leave(conn, [room_id])
            await state.send({"type": "room.left", "room": slug, "reason": reason})

    async def watch(self, slug: str | None) -> None:
        """Preview a public room (its messages, no presence), or stop (`slug` None)."""
        state, conn = self.state, self.state.conn
        async with state.rooms_lock:
            hub = await state.runtime.hub()
            previous = state.watching
            if previous is not None and previous.slug != slug:
                state.drop_stream(previous.room_id)
                await hub.leave(conn, [previous.room_id])
            if slug is None:
                return
            joined = conn.by_slug.get(slug)
            if joined is not None and joined.counted:
                room = await dbcalls.read(
                    selectors.user_room, user_id=conn.user_id, room_id=joined.room_id
                )
                if room is not None:
                    await state.send({"type": "room.watching", "room": public(room)})
                return
            preview = await dbcalls.read(selectors.room_preview, user_id=conn.user_id, slug=slug)
            stream = conn.by_slug.get(slug) or state.add_stream(
                preview["id"], preview["slug"], counted=False
            )
            state.watching = stream
            await hub.join(conn, [stream.room_id], online={})  # a preview is not presence
            if stream.order.started:
                last = stream.delivered
            else:
                last = (await reads.last_seqs([stream.room_id])).get(stream.room_id, 0)
            preview["last_seq"] = preview["last_read_seq"] = last
            await state.send({"type": "room.watching", "room": public(preview)})
            if not stream.order.started:
                await conn.start_stream(stream, last)
