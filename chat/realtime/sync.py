"""The process's periodic jobs: the database sync that catches up rooms and connections
whose events were lost, the idle close, presence upkeep, and the check of the login
sessions behind open sockets.

The channel layer is the fast path, the database is the truth: one cheap query per
process per interval bounds how long a lost event can delay a message (two intervals).
"""

import asyncio
import logging

from django.conf import settings

from chat.ops import observability
from chat.presence.stores import maintain_interval_seconds
from chat.protocol.codes import CloseCode
from chat.realtime import reads
from chat.realtime.connection import State
from chat.realtime.hub import Hub
from chat.realtime.registry import Registry

logger = logging.getLogger(__name__)


class Sync:
    def __init__(self, hub: Hub, registry: Registry) -> None:
        self.hub = hub
        self.registry = registry
        self.committed: dict[int, int] = {}  # rooms' last seqs read by the previous sync
        # Sessions found ended by the previous session check: closed if still ended now.
        self.ended_before: set[tuple[str | None, int]] = set()
        # A database restart costs each task one warning and one line when it is back,
        # not a traceback per interval (chat/database/outage.py).
        self.sync_log = reads.OutageLog(logger, "delivery sync")
        self.sessions_log = reads.OutageLog(logger, "session check")
        self.presence_log = reads.OutageLog(logger, "presence maintenance")

    async def sync_once(self) -> None:
        """Catch up the rooms and connections still missing a message that was already
        committed at the previous call: its event was lost, not merely in flight."""
        if not self.registry.by_room:
            self.committed = {}
            return
        latest = await reads.last_seqs(list(self.registry.by_room))
        # Comparing with the seqs of the previous call, not these, leaves events that are
        # still on their way alone: no needless reads in a busy room.
        due, self.committed = self.committed, latest
        # A lost event with no later one behind it leaves no gap to see: the room's
        # committed seq shows it. Fill such rooms once for all their connections first.
        fills = [
            self.hub.fill(room_id, room, up_to=due[room_id])
            for room_id, room in list(self.hub.rooms.items())
            if room_id in due
            and room.order.catch_up(due[room_id]) is not None
            and room.filler is None
        ]
        if fills:
            await asyncio.gather(*fills)
        # Every local connection of every room, each second: one lookup of its stream
        # (the walk is what holding 1,000 sockets costs here, bench `bigroom`'s quiet).
        laggards = [
            (conn, room_id, up_to)
            for room_id, members in list(self.registry.by_room.items())
            if (up_to := due.get(room_id)) is not None
            for conn in list(members)
            if (stream := conn.streams.get(room_id)) is not None
            and stream.order.started
            and stream.order.delivered < up_to
        ]
        observability.caught_up(len(laggards))
        if laggards:
            await asyncio.gather(
                *(conn.catch_up(room_id, up_to) for conn, room_id, up_to in laggards)
            )

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(settings.CHAT_SYNC_INTERVAL_SECONDS)
            try:
                await self.sync_once()
            except Exception as error:
                self.sync_log.failed(error, "delivery sync failed; retrying next interval")
            else:
                self.sync_log.ok()
            close_idle(self.registry)

    async def check_sessions_once(self) -> int:
        """Close the sockets whose login session or account no longer holds, however it
        ended (a bulk delete, clearsessions, expiry, QuerySet.update: no event is sent
        for those). Returns how many were closed."""
        open_ = [conn for conn in self.registry.connections if conn.state == State.OPEN]
        if not open_:
            self.ended_before = set()
            return 0
        ended = await reads.sessions_to_close(
            sorted({(c.session_key, c.user_id) for c in open_}, key=str)
        )
        # An ended session closes its sockets the second time it is seen ended: a session
        # renamed by a password change is briefly missing under its old key until the
        # chat.session_renamed event arrives. An inactive account closes at once.
        closing = [
            c
            for c in open_
            if (key := (c.session_key, c.user_id)) in ended
            and (ended[key] == CloseCode.FORBIDDEN or key in self.ended_before)
        ]
        self.ended_before = {key for key, code in ended.items() if code != CloseCode.FORBIDDEN}
        for conn in closing:
            self.registry.spawn(conn.shut_down(ended[(conn.session_key, conn.user_id)]))
        # The sessions still in use were seen now (the sessions page's "last seen"): one
        # UPDATE per check for all of them, never a query per connect.
        live = sorted(
            {
                c.session_key
                for c in open_
                if c.session_key and (c.session_key, c.user_id) not in ended
            }
        )
        await reads.sessions_mark_seen(live)
        return len(closing)

    async def check_sessions_forever(self) -> None:
        # Django's own paths (logout, password change, deactivation) close sockets within
        # a second through events; this bounds every other way a session can end.
        interval = settings.CHAT_SESSION_CHECK_SECONDS
        if interval <= 0:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check_sessions_once()
            except Exception as error:
                self.sessions_log.failed(error, "session check failed; retrying next interval")
            else:
                self.sessions_log.ok()

    async def maintain_presence_forever(self) -> None:
        while True:
            await asyncio.sleep(maintain_interval_seconds())
            try:
                await self.hub.presence.maintain()
            except Exception as error:
                self.presence_log.failed(
                    error, "presence maintenance failed; retrying next interval"
                )
            else:
                self.presence_log.ok()


def close_idle(registry: Registry) -> None:
    """Close (4408) every open connection whose client sent nothing for
    CHAT_IDLE_TIMEOUT_SECONDS (off when 0)."""
    timeout = settings.CHAT_IDLE_TIMEOUT_SECONDS
    if timeout <= 0:
        return
    now = asyncio.get_running_loop().time()
    for conn in list(registry.connections):
        if conn.state == State.OPEN and now - conn.last_frame_at > timeout:
            registry.spawn(conn.shut_down(CloseCode.IDLE))
