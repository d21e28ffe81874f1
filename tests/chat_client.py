"""A strict protocol client for fault tests: it reconnects (resuming with ?after=),
resends unacknowledged messages with their client_id, and fails loudly on any gap,
duplicate or reordering it receives. It speaks either endpoint: one room's
(/ws/chat/<slug>/) or all rooms' (/ws/chat/, with `all_rooms=True`: frames name the
room, and resuming is ?after=<slug>:<seq>)."""

import asyncio
import contextlib
import json
import uuid
from typing import Any

import websockets

from tests.servers import Daphne, ws_connect

RECONNECT_DELAY_SECONDS = 0.1
RECONNECT_GIVE_UP_SECONDS = 60


class OrderViolation(AssertionError):
    pass


class ChatClient:
    def __init__(
        self,
        name: str,
        cookie: str,
        servers: list[Daphne],
        home: int,
        slug: str,
        *,
        all_rooms: bool = False,
        thread: int | None = None,
    ):
        self.name, self.cookie, self.servers, self.home, self.slug = (
            name,
            cookie,
            servers,
            home,
            slug,
        )
        self.all_rooms = all_rooms
        self.thread = thread  # its sends are replies in this thread
        self.seqs: list[int] = []
        self.acked: dict[str, int] = {}  # client_id -> seq the server acknowledged
        self.pending: dict[str, str] = {}  # client_id -> body, sent but not acknowledged
        self.close_codes: list[int | None] = []
        self.errors: list[dict[str, Any]] = []
        self.connects = 0
        self._ws: Any = None
        self._acks: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def _take(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        if seq != self.last_seq + 1:
            raise OrderViolation(f"{self.name}: got seq {seq} after {self.last_seq}")
        self.seqs.append(seq)

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _connect(self) -> None:
        deadline = asyncio.get_running_loop().time() + RECONNECT_GIVE_UP_SECONDS
        attempt = 0
        while True:
            server = self.servers[(self.home + attempt) % len(self.servers)]
            attempt += 1
            if server.proc.poll() is None:
                try:
                    ws = await ws_connect(server, self._path(), self.cookie)
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    if hello["type"] == "hello":
                        if self.all_rooms:
                            # The backlog follows as message frames, which _run takes.
                            (room,) = [r for r in hello["rooms"] if r["slug"] == self.slug]
                            assert room["resumed"]["complete"], "resume cap hit in a test"
                        else:
                            assert hello["resumed"]["complete"], "resume cap hit in a test"
                            for message in hello["history"]:
                                self._take(message)
                        self._ws = ws
                        self.connects += 1
                        for client_id, body in list(self.pending.items()):
                            await self._send_frame(client_id, body)
                        return
                    await ws.close()
                except (OSError, TimeoutError, websockets.WebSocketException):
                    pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name} could not reconnect")
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    def _path(self) -> str:
        if self.all_rooms:
            return f"/ws/chat/?after={self.slug}:{self.last_seq}"
        return f"/ws/chat/{self.slug}/?after={self.last_seq}"

    async def _run(self) -> None:
        while not self._stopping:
            try:
                raw = await self._ws.recv()
            except websockets.ConnectionClosed as closed:
                if self._stopping:
                    return
                self.close_codes.append(closed.rcvd.code if closed.rcvd else None)
                await self._connect()
                continue
            frame = json.loads(raw)
            if self.all_rooms and frame.get("room") not in (None, self.slug):
                continue  # another room's frame
            if frame["type"] == "message":
                self._take(frame["message"])
            elif frame["type"] == "ack":
                client_id = frame["client_id"]
                self.acked[client_id] = frame["message"]["seq"]
                self.pending.pop(client_id, None)
                if client_id in self._acks:
                    self._acks[client_id].set()
            elif frame["type"] == "error":
                self.errors.append(frame)

    async def _send_frame(self, client_id: str, body: str) -> None:
        fields: dict[str, object] = {"type": "message.send", "body": body, "client_id": client_id}
        if self.all_rooms:
            fields["room"] = self.slug
        if self.thread is not None:
            fields["thread"] = self.thread
        frame = json.dumps(fields)
        with contextlib.suppress(websockets.ConnectionClosed):  # resent on reconnect
            await self._ws.send(frame)

    async def send(self, body: str, timeout: float = 60) -> int:
        """Send and wait for the acknowledgement (across reconnects); return its seq."""
        client_id = uuid.uuid4().hex
        self.pending[client_id] = body
        self._acks[client_id] = asyncio.Event()
        await self._send_frame(client_id, body)
        await asyncio.wait_for(self._acks[client_id].wait(), timeout)
        return self.acked[client_id]

    async def wait_for_seq(self, seq: int, timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.last_seq < seq:
            if self._task is not None and self._task.done():
                self._task.result()  # re-raise what stopped the reader
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.name} stuck at seq {self.last_seq}, want {seq}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)
            if self._task.done() and not self._task.cancelled():
                self._task.result()
