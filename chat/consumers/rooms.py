"""Rooms joining and leaving a live all-rooms connection (events from the hub and the
client's room.join / room.leave / room.watch), and read-state changes relayed to it."""

from chat import events, selectors
from chat.consumers.base import ConsumerBase, public
from chat.database import dbcalls
from chat.realtime import reads
from chat.realtime.connection import State


class RoomChanges(ConsumerBase):
    # --- rooms joined, left and watched (all rooms) -----------------------------------

    async def membership_changed(self, room_id: int, slug: str, action: str, reason: str) -> None:
        if self.state == State.CONNECTING:
            self._held_membership.append((room_id, slug, action, reason))
            return
        if self.state != State.OPEN:
            return
        if action == "joined":
            await self._room_joined(room_id, slug)
        elif action == "left":
            await self._room_left(room_id, slug, reason)

    async def _room_joined(self, room_id: int, slug: str) -> None:
        """Carry the room (if not yet) and say so with room.joined to this connection."""
        async with self._rooms_lock:
            hub = await self.runtime.hub()
            stream = self.streams.get(room_id)
            if stream is None:
                stream = self._add_stream(room_id, slug, counted=True)
                await hub.join(self, [room_id], online={room_id: slug})
                fresh = True
            elif not stream.counted:  # it was being watched: now it counts
                stream.counted = True
                self.watching = None
                await hub.join(self, [room_id], online={room_id: slug})
                fresh = False
            else:
                fresh = False
            # Read after joining the hub: the stream starts after this last_seq.
            state = await dbcalls.read(selectors.user_room, user_id=self.user_id, room_id=room_id)
            if state is None:  # left again, or banned, meanwhile
                if fresh:
                    await hub.leave(self, [room_id])
                    self._drop_stream(room_id)
                return
            await self._write(events.encode({"type": "room.joined", "room": public(state)}))
            if fresh:
                await self.start_stream(stream, state["last_seq"])

    async def _room_left(self, room_id: int, slug: str, reason: str) -> None:
        async with self._rooms_lock:
            stream = self.streams.get(room_id)
            if stream is None or not stream.counted:
                return
            self._drop_stream(room_id)  # its events stop at once
            hub = await self.runtime.hub()
            await hub.leave(self, [room_id])
            frame = {"type": "room.left", "room": slug, "reason": reason}
            await self._write(events.encode(frame))

    async def _watch(self, slug: str | None) -> None:
        async with self._rooms_lock:
            hub = await self.runtime.hub()
            previous = self.watching
            if previous is not None and previous.slug != slug:
                self._drop_stream(previous.room_id)
                await hub.leave(self, [previous.room_id])
            if slug is None:
                return
            joined = self.by_slug.get(slug)
            if joined is not None and joined.counted:
                state = await dbcalls.read(
                    selectors.user_room, user_id=self.user_id, room_id=joined.room_id
                )
                if state is not None:
                    frame = {"type": "room.watching", "room": public(state)}
                    await self._write(events.encode(frame))
                return
            preview = await dbcalls.read(selectors.room_preview, user_id=self.user_id, slug=slug)
            stream = self.by_slug.get(slug) or self._add_stream(
                preview["id"], preview["slug"], counted=False
            )
            self.watching = stream
            await hub.join(self, [stream.room_id], online={})  # a preview is not presence
            if stream.order.started:
                last = stream.delivered
            else:
                last = (await reads.last_seqs([stream.room_id])).get(stream.room_id, 0)
            preview["last_seq"] = preview["last_read_seq"] = last
            await self._write(events.encode({"type": "room.watching", "room": public(preview)}))
            if not stream.order.started:
                await self.start_stream(stream, last)

    async def counts_changed(self, room_id: int, frame: str) -> None:
        stream = self.streams.get(room_id)
        if stream is not None and stream.counted:
            await self.push(room_id, frame)
