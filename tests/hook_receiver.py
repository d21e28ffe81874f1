"""A real HTTP receiver on 127.0.0.1 for outgoing-webhook tests: records every request
(path, headers, body) and answers from a script of replies, one per request (the last
one repeats). A reply may hold the request (never answer) or answer late."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    hold: bool = False  # never answer (until the server stops)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.replies: list[Reply] = [Reply()]
        self.arrived = threading.Condition()
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.arrived:
                    index = len(receiver.requests)
                    receiver.requests.append(Seen(self.path, dict(self.headers.items()), body))
                    receiver.arrived.notify_all()
                    reply = receiver.replies[min(index, len(receiver.replies) - 1)]
                if reply.hold:
                    receiver.stopping.wait(60)
                    return
                if reply.delay:
                    receiver.stopping.wait(reply.delay)
                out = b"" if reply.json_body is None else json.dumps(reply.json_body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if out:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def wait(self, count: int, seconds: float = 20) -> list[Seen]:
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.requests) >= count, timeout=seconds)
        assert ok, f"{len(self.requests)} of {count} requests arrived"
        return self.requests


@contextmanager
def hook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stopping.set()
        receiver.server.shutdown()
        receiver.server.server_close()
