"""The deployment as shipped in deploy/: Debian's nginx with the site config (rendered for
test ports and paths only) and TLS, in front of two daphne processes started with the
systemd unit's flags, PostgreSQL and a Redis of the test's own."""

import asyncio
import http.client
import http.cookiejar
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.contrib.auth.models import User
from websockets.typing import Origin

from chat.models import Room
from tests.conftest import REQUIRE_SERVICES, TEST_PASSWORD, session_cookie
from tests.observe import (
    METRICS_TOKEN,
    OwnRedis,
    events,
    json_lines,
    postgres_only,
    start_from_unit,
)
from tests.servers import ROOT, Daphne, free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SPOOFED = "203.0.113.9"  # what a client writes in X-Forwarded-For to pass as someone else
ALICE_ADDRESS, BOB_ADDRESS = "127.0.0.2", "127.0.0.3"  # loopback addresses clients use


def _render_site(**values: Any) -> str:
    spec = importlib.util.spec_from_file_location("render_nginx", ROOT / "deploy/render_nginx.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.render(**values)
    assert "@" not in re.sub(r"#.*", "", text), "a placeholder was left unfilled"
    return text


@dataclass
class Nginx:
    http_port: int
    https_port: int
    cert: Path
    directory: Path
    static_root: Path
    proc: subprocess.Popen[bytes]

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def log(self) -> str:
        return (self.directory / "error.log").read_text(errors="replace")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    import socket

    deadline = time.monotonic() + 15
    while True:
        assert proc.poll() is None, f"{what} exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{what} does not listen on {port}"
            time.sleep(0.05)


@pytest.fixture
def nginx_factory(static_root: Path) -> Iterator[Any]:
    """Start nginx as an unprivileged process (nobody, when the tests run as root) with a
    main config of the test's own that includes the rendered deploy/ site."""
    if not os.path.exists(NGINX):
        if REQUIRE_SERVICES:
            pytest.fail("nginx is required in CI (.ci/run installs it)", pytrace=False)
        pytest.skip("nginx not installed (apt-get install nginx)")
    started: list[Nginx] = []

    def start(upstream_ports: list[int]) -> Nginx:
        import tempfile

        directory = Path(tempfile.mkdtemp(prefix="chat-nginx-"))
        # A copy nginx's unprivileged workers may read (pytest's temp dirs are private).
        static = directory / "static"
        shutil.copytree(static_root, static)
        cert, key = _self_signed(directory)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / "temp" / sub).mkdir(parents=True)
        http_port, https_port = free_port(), free_port()
        site = _render_site(
            server_name="127.0.0.1 localhost",
            upstream_ports=upstream_ports,
            cert=str(cert),
            key=str(key),
            static_root=str(static),
            acme_root=str(directory / "acme"),
            http_port=http_port,
            https_port=https_port,
        )
        (directory / "chat.conf").write_text(site)
        temp = directory / "temp"
        (directory / "nginx.conf").write_text(
            f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {directory}/access.log;
    sendfile on;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory}/chat.conf;
}}
"""
        )
        command = [NGINX, "-p", str(directory), "-e", str(directory / "error.log")]
        command += ["-c", str(directory / "nginx.conf")]
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "nobody:nogroup", str(directory)], check=True)
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = Nginx(http_port, https_port, cert, directory, static, proc)
        started.append(server)
        _wait_port(https_port, proc, "nginx")
        _wait_port(http_port, proc, "nginx")
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait(timeout=10)
        shutil.rmtree(server.directory, ignore_errors=True)


def _request(
    nginx: Nginx, method: str, path: str, *, scheme: str = "https", **kwargs: Any
) -> http.client.HTTPResponse:
    if scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", nginx.https_port, context=nginx.tls(), timeout=10
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=10)
    conn.request(method, path, **kwargs)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _get(nginx: Nginx, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", nginx.https_port, context=nginx.tls(), timeout=10
    )
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def _admin_login(nginx: Nginx, username: str) -> str:
    """Log in through nginx on the admin's own form (CSRF, secure cookies, Referer check
    over HTTPS); returns the admin index page."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=nginx.tls()), urllib.request.HTTPCookieProcessor(jar)
    )
    login_url = f"{nginx.https}/admin/login/?next=/admin/"
    page = opener.open(login_url, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "admin login page has no CSRF token"
    data = urllib.parse.urlencode(
        {
            "username": username,
            "password": TEST_PASSWORD,
            "csrfmiddlewaretoken": token[1],
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(login_url, data=data, headers={"Referer": login_url})
    with opener.open(request, timeout=10) as response:
        assert response.url == f"{nginx.https}/admin/", response.url
        cookies = {cookie.name: cookie for cookie in jar}
        assert cookies["sessionid"].secure, "the session cookie must be HTTPS-only"
        return str(response.read().decode())


async def _wss(nginx: Nginx, cookie: str, source: str) -> Any:
    return await websockets.connect(
        f"wss://127.0.0.1:{nginx.https_port}/ws/chat/lobby/",
        ssl=nginx.tls(),
        origin=Origin(nginx.https),
        additional_headers={"Cookie": cookie, "X-Forwarded-For": SPOOFED},
        local_addr=(source, 0),
        open_timeout=20,
    )


async def _recv(ws: Any, kind: str, timeout: float = 15) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), max(left, 0.01)))
        if frame["type"] == kind:
            return frame


def _connects(server: Daphne, user: str) -> list[dict[str, Any]]:
    return [e for e in events(json_lines(server.log()), "ws.connect") if e["user"] == user]


def _readyz(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_nginx_tls_two_daphnes_chat_static_admin_and_readiness(
    server_env: dict[str, str],
    tmp_path: Path,
    nginx_factory: Any,
    make_user: Any,
) -> None:
    postgres_only()
    redis = OwnRedis()
    redis.start()
    ports = [free_port(), free_port()]
    make_user("admin", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    alice: User = make_user("alice")
    bob: User = make_user("bob")
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    nginx = nginx_factory(ports)
    env = {
        **server_env,
        "REDIS_URL": redis.url,
        "CHAT_TRUSTED_PROXIES": "127.0.0.1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_CSRF_TRUSTED_ORIGINS": nginx.https,
        "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "DJANGO_SECURE_COOKIES": "1",
        "DJANGO_SECURE_SSL_REDIRECT": "1",
        "DJANGO_SECURE_HSTS_SECONDS": "60",
        "CHAT_LOG_FORMAT": "json",
        "CHAT_METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    servers: list[Daphne] = []
    try:
        for index, port in enumerate(ports):
            servers.append(start_from_unit(env, tmp_path, f"p{index}", port))

        # Plain HTTP is sent to HTTPS, path and query kept.
        redirect = _request(nginx, "GET", "/accounts/login/?next=/x", scheme="http")
        assert redirect.status == 301
        assert redirect.headers["Location"] == "https://127.0.0.1/accounts/login/?next=/x"

        # Static files from disk: the manifest's hashed name is cached for good.
        manifest = json.loads((nginx.static_root / "staticfiles.json").read_text())["paths"]
        hashed = manifest["admin/css/base.css"]
        status, headers, body = _get(nginx, f"/static/{hashed}")
        assert status == 200
        assert body == (nginx.static_root / hashed).read_bytes()
        assert "immutable" in headers["cache-control"]
        assert headers["content-type"].startswith("text/css")

        # The admin, through nginx over TLS: log in on its form and see the index.
        admin_index = _admin_login(nginx, "admin")
        assert "Site administration" in admin_index
        status, headers, _ = _get(nginx, "/accounts/login/")
        assert status == 200
        assert headers["strict-transport-security"] == "max-age=60"

        # Uploads are never served from disk by nginx: /media/ reaches Django.
        assert _get(nginx, "/media/anything.png")[0] == 404

        # Two wss:// clients, one on each process, chatting across them.
        cookies = {"alice": session_cookie(alice), "bob": session_cookie(bob)}

        async def chat() -> tuple[Daphne, Daphne]:
            a = await _wss(nginx, cookies["alice"], ALICE_ADDRESS)
            assert (await _recv(a, "hello"))["user"]["username"] == "alice"
            [alice_home] = [s for s in servers if _connects(s, "alice")]
            [other] = [s for s in servers if s is not alice_home]
            # least_conn sends the next socket to the process that has none; checked in
            # the logs, and retried rather than assumed.
            for _ in range(6):
                before = len(_connects(other, "bob"))
                b = await _wss(nginx, cookies["bob"], BOB_ADDRESS)
                await _recv(b, "hello")
                if len(_connects(other, "bob")) > before:
                    break
                await b.close()
            else:
                pytest.fail("every bob socket landed on alice's process")
            await a.send(json.dumps({"type": "message.send", "body": "hi", "client_id": "a1"}))
            got = await _recv(b, "message")
            assert (got["message"]["author"], got["message"]["body"]) == ("alice", "hi")
            await b.send(json.dumps({"type": "message.send", "body": "yo", "client_id": "b1"}))
            while (got := await _recv(a, "message"))["message"]["author"] != "bob":
                pass
            assert got["message"]["body"] == "yo"
            await a.close()
            await b.close()
            return alice_home, other

        alice_home, bob_home = asyncio.run(chat())
        assert alice_home is not bob_home
        # The address each process recorded is the one nginx saw: not nginx's own
        # (127.0.0.1) and not what the client wrote in X-Forwarded-For.
        for user, address in (("alice", ALICE_ADDRESS), ("bob", BOB_ADDRESS)):
            lines = [line for server in servers for line in _connects(server, user)]
            assert lines
            assert all(line["ip"] == address for line in lines), lines
        for server in servers:
            assert SPOOFED not in server.log()

        # Readiness through nginx follows Redis: down, then back.
        ctx_url = f"{nginx.https}/readyz"
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=nginx.tls()))

        def readyz() -> tuple[int, dict[str, Any]]:
            try:
                with opener.open(ctx_url, timeout=10) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        assert readyz() == (
            200,
            {"status": "ok", "checks": {"database": True, "redis": True, "accepting": True}},
        )
        redis.stop()
        for server in servers:  # each process, directly
            code, answer = _readyz(f"{server.http}/readyz")
            assert (code, answer["checks"]["redis"], answer["checks"]["database"]) == (
                503,
                False,
                True,
            )
        code, answer = readyz()
        assert code == 503
        assert answer["status"] == "unavailable"
        assert str(redis.port) not in json.dumps(answer)
        redis.start()
        deadline = time.monotonic() + 15
        while (readyz()[0], *(_readyz(f"{s.http}/readyz")[0] for s in servers)) != (200,) * 3:
            assert time.monotonic() < deadline, "readyz did not recover after Redis returned"
            time.sleep(0.2)

        # /metrics through nginx: refused without the token, host-wide with it.
        assert _get(nginx, "/metrics")[0] == 401
        conn = http.client.HTTPSConnection(
            "127.0.0.1", nginx.https_port, context=nginx.tls(), timeout=10
        )
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        scraped = conn.getresponse().read().decode()
        conn.close()
        assert re.search(r"^chat_ws_connects_total [2-9]", scraped, re.MULTILINE), scraped[:500]

        # With the processes gone, nginx still serves static files itself.
        for server in servers:
            server.stop()
        assert _get(nginx, f"/static/{hashed}")[0] == 200
        assert _get(nginx, "/accounts/login/")[0] == 502
    finally:
        for server in servers:
            server.stop()
        redis.stop()
    assert "[emerg]" not in nginx.log()
