"""Real servers for tests: daphne processes on loopback, and helpers to log in to them
over HTTP and talk to them over real WebSockets."""

import asyncio
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.typing import Origin

from chat.events.frames import frame_problems

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daphne:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = 15) -> int:
        self.signal(sig)
        return self.wait_stopped()

    def signal(self, sig: int = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait_stopped(self) -> int:
        """Wait for the process to end (it was signalled); kill it after 15 s."""
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        return int(self.proc.returncode)


def start_daphne(
    env: dict[str, str],
    log_dir: Path,
    name: str,
    port: int | None = None,
    *,
    daphne_args: Callable[[int], list[str]] | None = None,
    probe: str = "/accounts/login/",
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> Daphne:
    """A daphne on port (by default a free one), answering `probe` with 200. A given port
    lets a restarted server come back where its clients' sockets reconnect to;
    `daphne_args(port)` replaces the plain `-b 127.0.0.1 -p PORT app` command line."""
    if port is None:
        port = free_port()
    log_path = log_dir / f"daphne-{name}-{port}.log"
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env}
    args = (
        daphne_args(port)
        if daphne_args is not None
        else ["-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"]
    )
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", *args],
            cwd=ROOT,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Daphne(port=port, proc=proc, log_path=log_path, env=full_env)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited at start:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.http}{probe}", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop(9)
    raise RuntimeError(f"daphne did not answer within {startup_timeout}s:\n{server.log()}")


def stop_all(servers: list[Daphne]) -> None:
    """SIGTERM every server, then wait for each: their graceful stops overlap."""
    for server in servers:
        server.signal()
    for server in servers:
        server.wait_stopped()


@contextmanager
def daphnes(env: dict[str, str], log_dir: Path, count: int) -> Iterator[list[Daphne]]:
    """`count` servers, started side by side (each start is seconds of imports, mostly
    waited on) and stopped side by side."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        starts = [pool.submit(start_daphne, env, log_dir, str(index)) for index in range(count)]
        wait(starts)
    servers = [start.result() for start in starts if start.exception() is None]
    try:
        for start in starts:
            start.result()  # the first failure to start, if any, raised here
        yield servers
    finally:
        stop_all(servers)


def http_login(base_url: str, username: str, password: str) -> str:
    """Log in through the real login form (CSRF and all); return a Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base_url}/accounts/login/", timeout=10).read().decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "login page has no CSRF token"
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": match[1]}
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/accounts/login/", data=data, headers={"Referer": f"{base_url}/accounts/login/"}
    )
    with opener.open(request, timeout=10) as resp:
        assert resp.url.rstrip("/") == base_url, f"login failed, landed on {resp.url}"
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, "login set no session cookie"
    return f"sessionid={cookies['sessionid']}"


async def ws_connect(server: Daphne, path: str, cookie: str | None) -> Any:
    headers = {"Cookie": cookie} if cookie else {}
    return await websockets.connect(
        f"{server.ws}{path}",
        additional_headers=headers,
        origin=Origin(server.http),
        open_timeout=20,
        max_size=2**22,
    )


async def recv_json(ws: Any, timeout: float = 10) -> dict[str, Any]:
    import json

    frame = await asyncio.wait_for(ws.recv(), timeout)
    data: dict[str, Any] = json.loads(frame)
    problems = frame_problems(data)  # every frame a real daphne sends, as declared
    assert not problems, f"server frame does not match its declared shape: {problems}: {frame}"
    return data


async def recv_until(ws: Any, kind: str, timeout: float = 10) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        frame = await recv_json(ws, max(remaining, 0.01))
        if frame["type"] == kind:
            return frame
