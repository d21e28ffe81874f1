"""Pieces of bench/connect_cost.py: the client that connects, waits for hello and closes
(100 in flight), and the bench's own redis-server."""

# ruff: noqa: S603 - redis-server, fixed argv

import asyncio
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

ORIGIN_HEADER = "http://127.0.0.1"
TIMEOUT_SECONDS = 15.0  # handshake and hello, as the page


# --- the client ----------------------------------------------------------------------


async def connect_many(
    targets: list[tuple[str, str | None]], in_flight: int, cap_s: float
) -> dict[str, Any]:
    """Each target (url, cookie): handshake, wait for the first frame, close; at most
    `in_flight` at once; none started after `cap_s`."""
    import picows

    class Client(picows.WSListener):
        def __init__(self) -> None:
            super().__init__()
            self.hello: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == picows.WSMsgType.TEXT and not self.hello.done():
                self.hello.set_result(len(frame.get_payload_as_bytes()))
            elif frame.msg_type == picows.WSMsgType.CLOSE:
                if not self.hello.done():
                    self.hello.set_exception(
                        ConnectionError(f"closed with {frame.get_close_code().value}")
                    )
                transport.disconnect()

        def on_ws_disconnected(self, transport: Any) -> None:
            if not self.hello.done():
                self.hello.set_exception(ConnectionError("disconnected before hello"))

    gate = asyncio.Semaphore(in_flight)
    failures: Counter[str] = Counter()
    durations: list[float] = []
    sizes: list[int] = []
    skipped = 0
    started = time.monotonic()

    async def one(url: str, cookie: str | None) -> None:
        nonlocal skipped
        headers = {"Origin": ORIGIN_HEADER, **({"Cookie": cookie} if cookie else {})}
        async with gate:
            if time.monotonic() - started > cap_s:
                skipped += 1
                return
            t0 = time.monotonic()
            client = Client()
            try:
                transport, _ = await picows.ws_connect(
                    lambda: client,
                    url,
                    extra_headers=headers,
                    websocket_handshake_timeout=TIMEOUT_SECONDS,
                )
                sizes.append(await asyncio.wait_for(client.hello, TIMEOUT_SECONDS))
                durations.append(time.monotonic() - t0)
                transport.send_close(picows.WSCloseCode.OK)
                await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT_SECONDS)
            except Exception as error:  # counted and reported
                failures[f"{type(error).__name__}: {error}"[:120]] += 1

    await asyncio.gather(*(one(url, cookie) for url, cookie in targets))
    wall = time.monotonic() - started
    durations.sort()
    return {
        "attempted": len(targets) - skipped,
        "connected": len(durations),
        "failures": dict(failures),
        "wall_s": round(wall, 3),
        "connects_per_s": round(len(durations) / wall, 1) if wall > 0 else 0.0,
        "connect_ms_p50": round(1000 * durations[len(durations) // 2], 1) if durations else None,
        "connect_ms_p99": round(1000 * durations[int(len(durations) * 0.99)], 1)
        if durations
        else None,
        "hello_bytes_p50": sorted(sizes)[len(sizes) // 2] if sizes else None,
    }


def run_client(targets: list[tuple[str, str | None]], in_flight: int, cap_s: float) -> Any:
    try:
        import uvloop

        return uvloop.run(connect_many(targets, in_flight, cap_s))
    except ImportError:
        return asyncio.run(connect_many(targets, in_flight, cap_s))


# --- Redis ---------------------------------------------------------------------------


class OwnRedis:
    """A redis-server of the bench's own: its CPU and command counts are this run's."""

    def __init__(self, port: int, tmp: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/3"
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", str(tmp), "--maxclients", "10000"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        self.client = redis.Redis(port=port, socket_connect_timeout=2)
        for _ in range(100):
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def commands(self) -> dict[str, int]:
        stats = self.client.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}

    def presence_entries(self, prefix: str) -> int:
        """Presence entries (user, process) still in Redis under this run's prefix."""
        total = 0
        for key in self.client.scan_iter(match=f"{prefix}:presence:*", count=1000):
            if self.client.type(key) == b"zset":
                total += int(self.client.zcard(key))
        return total

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)
