"""This process's open connections, indexed the ways the hub and the whole-process jobs
look them up (by room, by user). Plain bookkeeping: no I/O."""

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

from chat.realtime.connection import Connection


class Registry:
    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.by_room: dict[int, set[Connection]] = {}
        self.by_user: dict[int, set[Connection]] = {}
        self._rooms: dict[Connection, set[int]] = {}
        self.shutting_down = False
        self.all_closed = asyncio.Event()  # set when the last connection leaves a shutdown
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.by_user.setdefault(conn.user_id, set()).add(conn)

    def remove(self, conn: Connection) -> list[int]:
        """Forget the connection; returns the rooms now without connections."""
        emptied = self.remove_rooms(conn, self.rooms_of(conn))
        self.connections.discard(conn)
        users = self.by_user.get(conn.user_id)
        if users is not None:
            users.discard(conn)
            if not users:
                del self.by_user[conn.user_id]
        if self.shutting_down and not self.connections:
            self.all_closed.set()
        return emptied

    def add_rooms(self, conn: Connection, room_ids: Iterable[int]) -> None:
        for room_id in room_ids:
            self.by_room.setdefault(room_id, set()).add(conn)
            self._rooms.setdefault(conn, set()).add(room_id)

    def remove_rooms(self, conn: Connection, room_ids: Iterable[int]) -> list[int]:
        """Take the connection out of the rooms; returns those now without connections."""
        emptied = []
        own = self._rooms.get(conn, set())
        for room_id in room_ids:
            own.discard(room_id)
            members = self.by_room.get(room_id)
            if members is None:
                continue
            members.discard(conn)
            if not members:
                del self.by_room[room_id]
                emptied.append(room_id)
        if not own:
            self._rooms.pop(conn, None)
        return emptied

    def rooms_of(self, conn: Connection) -> list[int]:
        return sorted(self._rooms.get(conn, ()))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a job for one connection off the caller's path, keeping it referenced."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
