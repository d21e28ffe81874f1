"""Which Python WebSocket client is cheapest per received message?

`python -m bench.clientcmp` starts a tiny picows server in this process that, when a
client says "go", pushes FRAMES chat `message` frames (the project's real shape, about
260 bytes) down each of CONNS connections. Each client variant runs in its own
subprocess, receives and json-parses every frame, and reports its own CPU time
(getrusage) per message. The server is the same for every variant, so the difference
is the client's cost alone.
"""

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from typing import Any

import picows

CONNS = 50
FRAMES = 2000  # per connection
VARIANTS = [
    ("picows", "uvloop"),
    ("picows", "asyncio"),
    ("aiohttp", "uvloop"),
    ("aiohttp", "asyncio"),
    ("websockets", "uvloop"),
    ("websockets", "asyncio"),
]
SAMPLE_FRAME = json.dumps(
    {
        "type": "message",
        "message": {
            "id": 123456,
            "room": "lobby",
            "seq": 98765,
            "author": "bench00042",
            "body": "t1a2b3:4:1234:123456789012345678",
            "created_at": "2026-11-23T19:49:41.584435+00:00",
            "client_id": "t1a2b3-4-1234",
        },
    },
    separators=(",", ":"),
).encode()
CLIENT_TIMEOUT_SECONDS = 120


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- server ----------------------------------------------------------------------------


class PushListener(picows.WSListener):
    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.TEXT:
            count = int(frame.get_payload_as_ascii_text())
            for _ in range(count):
                transport.send(picows.WSMsgType.TEXT, SAMPLE_FRAME)
        elif frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def serve_and_compare(conns: int, frames: int) -> list[dict[str, Any]]:
    server = await picows.ws_create_server(lambda _request: PushListener(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    results = []
    for lib, loop in VARIANTS:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.clientcmp",
            "--client",
            lib,
            "--loop",
            loop,
            "--port",
            str(port),
            "--conns",
            str(conns),
            "--frames",
            str(frames),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), CLIENT_TIMEOUT_SECONDS)
        if proc.returncode != 0:
            results.append({"client": lib, "loop": loop, "error": f"exit {proc.returncode}"})
            continue
        results.append(json.loads(out))
    server.close()
    return results


# --- clients ---------------------------------------------------------------------------


async def client_picows(port: int, conns: int, frames: int) -> int:
    done = asyncio.get_running_loop().create_future()
    received = 0
    total = conns * frames

    class Listener(picows.WSListener):
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            nonlocal received
            if frame.msg_type == picows.WSMsgType.TEXT:
                json.loads(frame.get_payload_as_bytes())
                received += 1
                if received == total and not done.done():
                    done.set_result(None)

    transports = []
    for _ in range(conns):
        transport, _listener = await picows.ws_connect(Listener, f"ws://127.0.0.1:{port}/")
        transports.append(transport)
    for transport in transports:
        transport.send(picows.WSMsgType.TEXT, str(frames).encode())
    await asyncio.wait_for(done, CLIENT_TIMEOUT_SECONDS)
    for transport in transports:
        transport.disconnect()
    return received


async def client_aiohttp(port: int, conns: int, frames: int) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(f"ws://127.0.0.1:{port}/") for _ in range(conns)]

        async def drain(ws: aiohttp.ClientWebSocketResponse) -> int:
            await ws.send_str(str(frames))
            for _ in range(frames):
                msg = await ws.receive()
                json.loads(msg.data)
            return frames

        counts = await asyncio.gather(*(drain(ws) for ws in sockets))
        for ws in sockets:
            await ws.close()
    return sum(counts)


async def client_websockets(port: int, conns: int, frames: int) -> int:
    import websockets

    sockets = [
        await websockets.connect(f"ws://127.0.0.1:{port}/", compression=None) for _ in range(conns)
    ]

    async def drain(ws: websockets.ClientConnection) -> int:
        await ws.send(str(frames))
        for _ in range(frames):
            json.loads(await ws.recv())
        return frames

    counts = await asyncio.gather(*(drain(ws) for ws in sockets))
    for ws in sockets:
        await ws.close()
    return sum(counts)


CLIENTS = {"picows": client_picows, "aiohttp": client_aiohttp, "websockets": client_websockets}


def run_client(lib: str, loop: str, port: int, conns: int, frames: int) -> dict[str, Any]:
    if loop == "uvloop":
        import uvloop

        runner: Any = uvloop.run
    else:
        runner = asyncio.run
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    received = runner(CLIENTS[lib](port, conns, frames))
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    return {
        "client": lib,
        "loop": loop,
        "messages": received,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "cpu_us_per_message": round(cpu / received * 1e6, 2),
        "messages_per_cpu_second": round(received / cpu),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--client", choices=sorted(CLIENTS))
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--port", type=int)
    parser.add_argument("--conns", type=int, default=CONNS)
    parser.add_argument("--frames", type=int, default=FRAMES)
    args = parser.parse_args(argv)
    if args.client:
        print(json.dumps(run_client(args.client, args.loop, args.port, args.conns, args.frames)))
        return 0
    os.environ.setdefault("PYTHONHASHSEED", "0")
    results = asyncio.run(serve_and_compare(args.conns, args.frames))
    print(f"{'client':<12}{'loop':<9}{'messages':>10}{'CPU µs/msg':>12}{'msgs/CPU-s':>12}")
    for row in results:
        if "error" in row:
            print(f"{row['client']:<12}{row['loop']:<9}  {row['error']}")
            continue
        print(
            f"{row['client']:<12}{row['loop']:<9}{row['messages']:>10}"
            f"{row['cpu_us_per_message']:>12}{row['messages_per_cpu_second']:>12}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
