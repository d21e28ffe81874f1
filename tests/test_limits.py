"""Abuse limits: message rate and flooding, connection caps and attempts, client
addresses behind proxies, frame size, the Content-Security-Policy and the deployment
checks. In process (memory store) first, then Redis and real daphne processes."""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.test import Client, override_settings
from websockets.typing import Origin

from chat import realtime, selectors, services
from chat.limits import policy, stores
from chat.models import Message, Room
from chat.protocol.codes import CloseCode
from tests.conftest import communicator, session_cookie
from tests.servers import ROOT, Daphne, daphnes, recv_json, recv_until, ws_connect

Open = Callable[..., Any]
db = pytest.mark.django_db(transaction=True)


async def joined(
    open_socket: Open,
    user: User | None,
    slug: str,
    *,
    ip: str | None = None,
    forwarded_for: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Connect from `ip` (the ASGI peer) and return (communicator, first frame or close)."""
    comm = await open_socket(user, f"/ws/chat/{slug}/")
    if ip is not None:
        comm.scope["client"] = [ip, 40000]
    if forwarded_for is not None:
        comm.scope["headers"].append((b"x-forwarded-for", forwarded_for.encode()))
    assert (await comm.connect())[0]
    frame = await comm.receive_output()
    if frame["type"] == "websocket.close":
        return comm, frame
    return comm, json.loads(frame["text"])


def send_frame(body: str, client_id: str) -> dict[str, str]:
    return {"type": "message.send", "body": body, "client_id": client_id}


async def ack_and_message(comm: Any) -> dict[str, Any]:
    """The ack and the broadcast of one send, in whichever order they come; the ack."""
    frames: dict[str, dict[str, Any]] = {}
    for _ in range(2):
        frame = await comm.receive_json_from()
        frames[frame["type"]] = frame
    assert set(frames) == {"ack", "message"}, frames
    return frames["ack"]


class ManualClock:
    """A limits clock (limit_stores.Clock) that moves only when told to."""

    def __init__(self) -> None:
        self.now = time.monotonic()  # where the real one was: buckets already made agree

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def saved_count(room: Room) -> int:
    count: int = await database_sync_to_async(Message.objects.filter(room=room).count)()
    return count


# --- message rate, in process -----------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    from django.conf import settings

    assert (settings.CHAT_MESSAGE_BURST, settings.CHAT_MESSAGE_RATE_PER_SECOND) == (10, 3.0)
    assert (settings.CHAT_FLOOD_MAX_REJECTED, settings.CHAT_FLOOD_WINDOW_SECONDS) == (20, 10)
    assert settings.CHAT_MAX_CONNECTIONS_PER_USER == 20
    assert settings.CHAT_MAX_CONNECTIONS_PER_IP == 50
    assert settings.CHAT_CONNECT_ATTEMPTS_PER_MINUTE == 60
    assert settings.CHAT_TRUSTED_PROXIES == []
    assert settings.CHAT_MAX_FRAME_BYTES == 64 * 1024


@db
@override_settings(CHAT_MESSAGE_BURST=5, CHAT_MESSAGE_RATE_PER_SECOND=2.0)
async def test_burst_passes_then_sends_are_rate_limited_and_not_saved(
    open_socket: Open, alice: User, room: Room
) -> None:
    comm, hello = await joined(open_socket, alice, room.slug)
    assert hello["type"] == "hello"
    store = policy.current().store  # the guard the consumer uses: this loop's
    assert isinstance(store, stores.MemoryStore)
    clock = ManualClock()
    store.clock = clock
    for n in range(5):
        await comm.send_json_to(send_frame(f"m{n}", f"c{n}"))
        await ack_and_message(comm)
    await comm.send_json_to(send_frame("one too many", "c5"))
    error = await comm.receive_json_from()
    assert error["code"] == "rate_limited"
    assert error["client_id"] == "c5"
    assert 0 < error["retry_after"] <= 0.5  # one token per 0.5 s
    assert error["detail"]
    assert await comm.receive_nothing(timeout=0.1)
    assert await saved_count(room) == 5
    clock.advance(error["retry_after"])
    await comm.send_json_to(send_frame("after waiting", "c5"))  # the same message, resent
    ack = await ack_and_message(comm)
    assert ack["message"]["body"] == "after waiting"
    assert await saved_count(room) == 6


@db
@override_settings(CHAT_MESSAGE_BURST=2, CHAT_MESSAGE_RATE_PER_SECOND=3.0)
async def test_the_limit_is_per_user_not_per_connection(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    a1, _ = await joined(open_socket, alice, room.slug)
    a2, _ = await joined(open_socket, alice, room.slug)
    b, _ = await joined(open_socket, bob, room.slug)
    answers = []
    for n, comm in enumerate([a1, a2, a1]):
        await comm.send_json_to(send_frame("x", f"a{n}"))
        answers.append(await comm.receive_json_from(skip=("presence", "typing", "message")))
    assert [a["type"] for a in answers] == ["ack", "ack", "error"]
    assert answers[2]["code"] == "rate_limited"
    await b.send_json_to(send_frame("bob is not limited by alice", "b0"))
    assert (await b.receive_json_from(skip=("presence", "typing", "message")))["type"] == "ack"


@db
@override_settings(
    CHAT_MESSAGE_BURST=1,
    CHAT_MESSAGE_RATE_PER_SECOND=0.1,
    CHAT_FLOOD_MAX_REJECTED=3,
    CHAT_FLOOD_WINDOW_SECONDS=10,
)
async def test_flooding_past_the_rejected_limit_closes_with_4429(
    open_socket: Open, alice: User, room: Room
) -> None:
    comm, _ = await joined(open_socket, alice, room.slug)
    await comm.send_json_to(send_frame("first", "f0"))
    await ack_and_message(comm)
    for n in range(1, 4):  # three rejections are tolerated
        await comm.send_json_to(send_frame("flood", f"f{n}"))
        assert (await comm.receive_json_from())["code"] == "rate_limited"
    await comm.send_json_to(send_frame("flood", "f4"))
    error = await comm.receive_json_from()
    assert (error["code"], error["client_id"]) == ("rate_limited", "f4")
    assert await comm.receive_output() == {"type": "websocket.close", "code": CloseCode.TOO_MANY}
    assert await saved_count(room) == 1


# --- connection caps and attempts, in process -------------------------------------------


@db
@override_settings(CHAT_MAX_CONNECTIONS_PER_USER=2)
async def test_connections_past_the_user_cap_close_with_4429_and_closing_frees_one(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    first, hello = await joined(open_socket, alice, room.slug)
    assert hello["type"] == "hello"
    _, hello = await joined(open_socket, alice, room.slug)
    assert hello["type"] == "hello"
    _, refused = await joined(open_socket, alice, room.slug)
    assert refused == {"type": "websocket.close", "code": CloseCode.TOO_MANY}
    _, other = await joined(open_socket, bob, room.slug)
    assert other["type"] == "hello"
    await first.disconnect()
    _, hello = await joined(open_socket, alice, room.slug)
    assert hello["type"] == "hello"


@db
@override_settings(CHAT_MAX_CONNECTIONS_PER_USER=1)
async def test_refused_connections_hold_no_slot(open_socket: Open, alice: User, room: Room) -> None:
    comm, refused = await joined(open_socket, alice, "no-such-room")
    assert refused == {"type": "websocket.close", "code": 4404}
    await comm.disconnect()
    _, hello = await joined(open_socket, alice, room.slug)
    assert hello["type"] == "hello"


@db
@override_settings(CHAT_MAX_CONNECTIONS_PER_USER=1)
async def test_a_connect_that_fails_after_admission_gives_its_slot_and_membership_back(
    open_socket: Open, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_history(**kwargs: object) -> object:
        raise RuntimeError("history read failed")

    monkeypatch.setattr(selectors, "message_history", broken_history)
    cookie = await database_sync_to_async(session_cookie)(alice)
    comm = communicator(f"/ws/chat/{room.slug}/", cookie=cookie)  # not open_socket's: it died
    with pytest.raises(RuntimeError, match="history read failed"):
        await comm.connect()
    assert not realtime.current().by_room.get(room.pk), "the dead consumer left the hub"
    monkeypatch.undo()
    _, hello = await joined(open_socket, alice, room.slug)
    assert hello["type"] == "hello", "the failed connect's slot was given back"


@db
@override_settings(CHAT_MAX_CONNECTIONS_PER_USER=0, CHAT_MAX_CONNECTIONS_PER_IP=2)
async def test_connections_past_the_address_cap_close_with_4429(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    _, hello = await joined(open_socket, alice, room.slug, ip="203.0.113.5")
    assert hello["type"] == "hello"
    _, hello = await joined(open_socket, bob, room.slug, ip="203.0.113.5")
    assert hello["type"] == "hello"
    _, refused = await joined(open_socket, alice, room.slug, ip="203.0.113.5")
    assert refused == {"type": "websocket.close", "code": CloseCode.TOO_MANY}
    # A made-up X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    _, refused = await joined(
        open_socket, bob, room.slug, ip="203.0.113.5", forwarded_for="198.51.100.1"
    )
    assert refused["code"] == CloseCode.TOO_MANY
    _, hello = await joined(open_socket, alice, room.slug, ip="203.0.113.6")
    assert hello["type"] == "hello"


@db
@override_settings(
    CHAT_MAX_CONNECTIONS_PER_USER=0,
    CHAT_MAX_CONNECTIONS_PER_IP=1,
    CHAT_TRUSTED_PROXIES=["10.0.0.0/8"],
)
async def test_behind_a_trusted_proxy_the_last_forwarded_hop_is_the_client(
    open_socket: Open, alice: User, room: Room
) -> None:
    proxy = "10.1.2.3"
    _, hello = await joined(
        open_socket, alice, room.slug, ip=proxy, forwarded_for="192.0.2.9, 198.51.100.1"
    )
    assert hello["type"] == "hello"
    # The first hops are whatever the client wrote: only the last one counts.
    _, refused = await joined(
        open_socket, alice, room.slug, ip=proxy, forwarded_for="192.0.2.10, 198.51.100.1"
    )
    assert refused["code"] == CloseCode.TOO_MANY
    _, hello = await joined(open_socket, alice, room.slug, ip=proxy, forwarded_for="198.51.100.2")
    assert hello["type"] == "hello"


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("203.0.113.5", None, [], "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", [], "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", ["10.0.0.1"], "203.0.113.5"),
        ("10.0.0.1", "198.51.100.1", ["10.0.0.1"], "198.51.100.1"),
        ("10.0.0.1", "6.6.6.6, 198.51.100.1", ["10.0.0.1"], "198.51.100.1"),
        ("10.0.0.1", "not an address", ["10.0.0.1"], "10.0.0.1"),
        ("10.0.0.1", "", ["10.0.0.1"], "10.0.0.1"),
        ("::1", "2001:db8::7", ["::1"], "2001:db8::7"),
        (None, "198.51.100.1", ["10.0.0.1"], None),
    ],
)
def test_client_ip(
    peer: str | None, header: str | None, trusted: list[str], expected: str | None
) -> None:
    scope: dict[str, object] = {"headers": []}
    if peer is not None:
        scope["client"] = [peer, 1234]
    if header is not None:
        scope["headers"] = [(b"x-forwarded-for", header.encode())]
    with override_settings(CHAT_TRUSTED_PROXIES=trusted):
        assert policy.client_ip(scope) == expected


def test_ipv6_addresses_count_per_64() -> None:
    assert policy.address_key("2001:db8:1:2:aaaa::1") == policy.address_key("2001:db8:1:2::9")
    assert policy.address_key("2001:db8:1:3::1") != policy.address_key("2001:db8:1:2::1")
    assert policy.address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert policy.address_key("192.0.2.1") == "192.0.2.1"


@db
@override_settings(CHAT_CONNECT_ATTEMPTS_PER_MINUTE=3)
async def test_connection_attempts_per_address_are_limited_logged_in_or_not(
    open_socket: Open, alice: User, room: Room
) -> None:
    _, refused = await joined(open_socket, None, room.slug, ip="203.0.113.5")
    assert refused["code"] == 4401
    for _ in range(2):
        comm, hello = await joined(open_socket, alice, room.slug, ip="203.0.113.5")
        assert hello["type"] == "hello"
        await comm.disconnect()
    _, refused = await joined(open_socket, alice, room.slug, ip="203.0.113.5")
    assert refused == {"type": "websocket.close", "code": CloseCode.TOO_MANY}
    _, hello = await joined(open_socket, alice, room.slug, ip="203.0.113.77")
    assert hello["type"] == "hello"


# --- frame size, in process -------------------------------------------------------------


@db
@override_settings(CHAT_MAX_FRAME_BYTES=1024)
async def test_frames_over_the_size_limit_get_frame_too_large(
    open_socket: Open, alice: User, room: Room
) -> None:
    comm, _ = await joined(open_socket, alice, room.slug)
    big_ascii = json.dumps(send_frame("x" * 1100, "big"))
    big_utf8 = json.dumps(send_frame("€" * 400, "wide"), ensure_ascii=False)  # 1200 bytes
    assert len(big_utf8) < 1024 < len(big_utf8.encode())
    for text in (big_ascii, big_utf8):
        await comm.send_to(text_data=text)
        error = await comm.receive_json_from()
        assert error["code"] == "frame_too_large"
        assert "client_id" not in error  # the frame was never read
    await comm.send_to(bytes_data=b"\0" * 2000)
    assert (await comm.receive_json_from())["code"] == "frame_too_large"
    fits = json.dumps(send_frame("€" * 300, "fits"), ensure_ascii=False)
    assert len(fits.encode()) <= 1024
    await comm.send_to(text_data=fits)
    await ack_and_message(comm)
    assert await saved_count(room) == 1


# --- Redis store: shared by processes ---------------------------------------------------


async def test_concurrent_takes_share_one_redis_round_trip_and_each_gets_its_answer(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    store = stores.RedisStore(redis_url, prefix)
    pipelines: list[int] = []
    real = store.redis.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        pipelines.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(store.redis, "pipeline", counted)
    # 12 sends at once: users 1-3 with a burst of 3 each (4 takes per user).
    waits = await asyncio.gather(*(store.take_token(f"user:{n % 3}", 3, 1.0) for n in range(12)))
    assert len(pipelines) == 1  # one round trip for all twelve
    for user in range(3):
        mine = waits[user::3]
        assert mine[:3] == [0.0, 0.0, 0.0]  # in the order asked: the first three taken
        assert 0 < mine[3] <= 1.0
    await store.redis.aclose()


async def test_redis_store_shares_buckets_and_caps_and_forgets_dead_processes(
    redis_url: str,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    with override_settings(
        REDIS_URL=redis_url,
        CHAT_LAYER_PREFIX=prefix,
        CHAT_MESSAGE_BURST=3,
        CHAT_MESSAGE_RATE_PER_SECOND=1.0,
        CHAT_MAX_CONNECTIONS_PER_USER=2,
        CHAT_PRESENCE_TIMEOUT_SECONDS=0.4,  # entries live 0.3 s unless refreshed
    ):
        one = policy.Guard(stores.RedisStore(redis_url, prefix))
        two = policy.Guard(stores.RedisStore(redis_url, prefix))
        for guard in (one, two, one):
            await guard.message_check(7)
        with pytest.raises(policy.RateLimited) as caught:
            await two.message_check(7)
        assert 0 < caught.value.retry_after <= 1.0
        await two.message_check(8)  # another user's bucket

        held = [await one.admit(user_id=7, ip=None), await two.admit(user_id=7, ip=None)]
        assert all(held)
        assert await one.admit(user_id=7, ip=None) is None
        await two.maintain()  # process two stays alive; one stops refreshing (killed)
        assert one.maintainer is not None
        one.maintainer.cancel()
        await asyncio.sleep(0.35)
        await two.maintain()
        assert await two.admit(user_id=7, ip=None) is not None  # one's count expired
        assert await two.admit(user_id=7, ip=None) is None
        for guard in (one, two):
            if guard.maintainer is not None:
                guard.maintainer.cancel()
            await guard.store.redis.aclose()  # type: ignore[attr-defined]


async def test_a_cap_release_redis_missed_is_retried_until_done(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(policy, "RELEASE_RETRY_FIRST_SECONDS", 0.05)
    with override_settings(
        REDIS_URL=redis_url, CHAT_LAYER_PREFIX=prefix, CHAT_MAX_CONNECTIONS_PER_USER=2
    ):
        guard = policy.Guard(stores.RedisStore(redis_url, prefix))
        real_release = guard.store.release
        failures = 2  # the release, then its first retry

        async def flaky_release(counts: dict[str, int]) -> None:
            nonlocal failures
            if failures:
                failures -= 1
                raise ConnectionError("No connection available.")
            await real_release(counts)

        monkeypatch.setattr(guard.store, "release", flaky_release)
        slots = [await guard.admit(user_id=7, ip=None) for _ in range(2)]
        assert all(slots)
        await slots[0].release()  # type: ignore[union-attr]
        # Still counted in Redis while this process holds the user's other connection.
        assert await guard.admit(user_id=7, ip=None) is None
        assert guard.retrier is not None
        await asyncio.wait_for(guard.retrier, 5)
        assert failures == 0
        assert not guard.unreleased
        assert await guard.admit(user_id=7, ip=None) is not None, "the slot came back"
        if guard.maintainer is not None:
            guard.maintainer.cancel()
        await guard.store.redis.aclose()  # type: ignore[attr-defined]


async def test_limits_let_traffic_through_when_redis_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.servers import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with override_settings(REDIS_URL=url, CHAT_MESSAGE_BURST=1, CHAT_CONNECT_ATTEMPTS_PER_MINUTE=1):
        guard = policy.Guard(stores.RedisStore(url, "unreachable"))
        started = time.monotonic()
        for _ in range(3):
            await guard.message_check(1)
            assert await guard.attempt_allowed("192.0.2.1")
            slot = await guard.admit(user_id=1, ip="192.0.2.1")
            assert slot is not None
            await slot.release()
        assert time.monotonic() - started < 5
        if guard.maintainer is not None:
            guard.maintainer.cancel()
    assert "unavailable; allowing" in caplog.text
    assert "Traceback" not in caplog.text


# --- CSP and deployment -----------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def assert_strict_csp_page(response: Any) -> None:
    assert response.status_code == 200, response
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html)
    assert "<style" not in html
    assert "style=" not in html
    assert "javascript:" not in html


@db
def test_every_page_carries_a_csp_without_inline_script(
    make_user: Callable[..., User], room: Room
) -> None:
    anonymous = Client()
    with override_settings(CHAT_SIGNUP="open"):  # the sign-up form itself, not the 403
        for url in ("/accounts/login/", "/accounts/signup/", "/admin/login/"):
            assert_strict_csp_page(anonymous.get(url))
    staff = make_user("root", is_staff=True, is_superuser=True)
    message = services.message_post(room_id=room.pk, author=staff, body="hi", client_id="x")
    client = Client()
    client.force_login(staff)
    pages = ["/", f"/chat/{room.slug}/", "/admin/", "/admin/password_change/"]
    for model in ("room", "message", "sanction", "auditlog", "membership", "messageedit"):
        pages += [f"/admin/chat/{model}/"]
    pages += ["/admin/chat/room/add/", f"/admin/chat/room/{room.pk}/change/"]
    pages += [f"/admin/chat/message/{message['id']}/change/", "/admin/chat/sanction/add/"]
    pages += ["/admin/auth/user/", "/admin/auth/user/add/", f"/admin/auth/user/{staff.pk}/change/"]
    for url in pages:
        response = client.get(url)
        if response.status_code == 404 and "/admin/chat/" in url:
            continue  # a model this install does not register
        assert_strict_csp_page(response)


PRODUCTION_ENV = {
    # The block documented in README "Production".
    "DJANGO_SECRET_KEY": "x" * 20 + "-production-like-secret-key-of-fifty-plus-chars-0123456789",
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "CHAT_TRUSTED_PROXIES": "127.0.0.1",
}


def test_check_deploy_is_clean_with_the_documented_production_environment() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, value in PRODUCTION_ENV.items():
        if name != "DJANGO_SECRET_KEY":
            assert f"{name}={value}" in readme, f"README does not document {name}={value}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CHAT_", "REDIS_"))
    }
    env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="chatsite.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- across real processes ----------------------------------------------------------------

LIMITED_ENV = {
    "CHAT_MESSAGE_BURST": "10",
    "CHAT_MESSAGE_RATE_PER_SECOND": "3",
    "CHAT_FLOOD_MAX_REJECTED": "20",
    "CHAT_MAX_CONNECTIONS_PER_USER": "20",
    "CHAT_MAX_CONNECTIONS_PER_IP": "50",
    "CHAT_CONNECT_ATTEMPTS_PER_MINUTE": "60",
}


def lobby() -> Room:
    return Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})[0]


async def open_lobby(
    server: Daphne, cookie: str, headers: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Connect; return (socket, hello) or (socket, {"close": code}) when refused."""
    ws = await websockets.connect(
        f"{server.ws}/ws/chat/lobby/",
        additional_headers={"Cookie": cookie, **(headers or {})},
        origin=Origin(server.http),
        open_timeout=20,
        max_size=2**22,
    )
    try:
        return ws, await recv_json(ws)
    except websockets.ConnectionClosed as closed:
        return ws, {"close": closed.rcvd.code if closed.rcvd else None}


def assert_healthy(server: Daphne) -> None:
    assert server.proc.poll() is None
    log = server.log()
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.slow
@db
def test_rate_limit_holds_across_two_connections_on_two_processes(
    server_env: dict[str, str], log_dir: Path, alice: User
) -> None:
    room = lobby()
    env = {**server_env, **LIMITED_ENV, "CHAT_FLOOD_MAX_REJECTED": "0"}
    cookie = session_cookie(alice)
    total = 30
    with daphnes(env, log_dir, 2) as servers:

        async def scenario() -> tuple[list[dict[str, Any]], float]:
            sockets = [(await open_lobby(server, cookie))[0] for server in servers]
            started = time.monotonic()
            for n in range(total):  # interleaved: 15 on each process, no waiting
                await sockets[n % 2].send(json.dumps(send_frame(f"m{n}", f"c{n}")))

            async def answers(ws: Any) -> list[dict[str, Any]]:
                got: list[dict[str, Any]] = []
                while len(got) < total // 2:
                    frame = await recv_json(ws)
                    if frame["type"] in ("ack", "error"):
                        got.append(frame)
                return got

            both = await asyncio.gather(*(answers(ws) for ws in sockets))
            elapsed = time.monotonic() - started
            for ws in sockets:
                await ws.close()
            return both[0] + both[1], elapsed

        frames, elapsed = asyncio.run(scenario())
        for server in servers:
            assert_healthy(server)
    accepted = [f for f in frames if f["type"] == "ack"]
    refused = [f for f in frames if f["type"] == "error"]
    assert {f["code"] for f in refused} == {"rate_limited"}
    assert all(0 < f["retry_after"] <= 1 / 3 + 0.01 for f in refused)
    assert 10 <= len(accepted) <= 10 + 3 * elapsed + 1, (len(accepted), elapsed)
    assert Message.objects.filter(room=room).count() == len(accepted)


@pytest.mark.slow
@db
def test_user_connection_cap_counts_both_processes_and_forgets_a_killed_one(
    server_env: dict[str, str], log_dir: Path, alice: User
) -> None:
    lobby()
    env = {
        **server_env,
        **LIMITED_ENV,
        "CHAT_MAX_CONNECTIONS_PER_USER": "3",
        "CHAT_PRESENCE_TIMEOUT_SECONDS": "2",
    }
    cookie = session_cookie(alice)
    with daphnes(env, log_dir, 2) as (one, two):

        async def scenario() -> float:
            held = []
            for server in (one, one, two):
                ws, hello = await open_lobby(server, cookie)
                assert hello["type"] == "hello"
                held.append(ws)
            for server in (one, two):
                _, refused = await open_lobby(server, cookie)
                assert refused == {"close": CloseCode.TOO_MANY}
            await held.pop().close()  # two's connection: one free slot, on any process
            deadline = time.monotonic() + 5
            ws, hello = await open_lobby(two, cookie)
            while hello == {"close": CloseCode.TOO_MANY}:  # the release is on its way
                assert time.monotonic() < deadline, "a closed connection's slot was kept"
                await asyncio.sleep(0.05)
                ws, hello = await open_lobby(two, cookie)
            assert hello["type"] == "hello"
            await ws.close()
            one.proc.kill()  # its two connections never say goodbye
            killed = time.monotonic()
            while True:
                _, answer = await open_lobby(two, cookie)
                if "close" not in answer:
                    break
                assert time.monotonic() - killed < 5, "a killed process's count never expired"
                await asyncio.sleep(0.25)
            return time.monotonic() - killed

        freed_after = asyncio.run(scenario())
        assert_healthy(two)
    assert freed_after <= 2.5


@pytest.mark.slow
@db
def test_address_cap_and_attempts_hold_across_processes_and_trust_only_the_proxy(
    server_env: dict[str, str], log_dir: Path, alice: User, bob: User
) -> None:
    lobby()
    base = {
        **server_env,
        **LIMITED_ENV,
        "CHAT_MAX_CONNECTIONS_PER_USER": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "2",
        "CHAT_CONNECT_ATTEMPTS_PER_MINUTE": "8",
    }
    cookies = [session_cookie(alice), session_cookie(bob)]

    def forwarded(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": f"192.0.2.1, {address}"}

    # Not trusted: everyone is 127.0.0.1, whatever the header says.
    with daphnes(base, log_dir, 2) as (one, two):

        async def untrusted() -> None:
            _, hello = await open_lobby(one, cookies[0], forwarded("198.51.100.1"))
            assert hello["type"] == "hello"
            _, hello = await open_lobby(two, cookies[1], forwarded("198.51.100.2"))
            assert hello["type"] == "hello"
            _, refused = await open_lobby(one, cookies[1], forwarded("198.51.100.3"))
            assert refused == {"close": CloseCode.TOO_MANY}

        asyncio.run(untrusted())

    # Behind a trusted proxy (here: loopback), each forwarded client has its own count.
    with daphnes({**base, "CHAT_TRUSTED_PROXIES": "127.0.0.1"}, log_dir, 2) as (one, two):

        async def trusted() -> None:
            held = []
            for server, cookie in ((one, cookies[0]), (two, cookies[1])):
                ws, hello = await open_lobby(server, cookie, forwarded("198.51.100.1"))
                assert hello["type"] == "hello"
                held.append(ws)
            _, refused = await open_lobby(one, cookies[0], forwarded("198.51.100.1"))
            assert refused == {"close": CloseCode.TOO_MANY}
            for ws in held:
                await ws.close()
            # Attempts: 3 so far from 198.51.100.1; 5 more on either process, then refused.
            await asyncio.sleep(0.2)
            for n in range(5):
                ws, hello = await open_lobby(
                    (one, two)[n % 2], cookies[0], forwarded("198.51.100.1")
                )
                assert hello["type"] == "hello", n
                await ws.close()
            _, refused = await open_lobby(two, cookies[0], forwarded("198.51.100.1"))
            assert refused == {"close": CloseCode.TOO_MANY}
            _, hello = await open_lobby(two, cookies[0], forwarded("198.51.100.9"))
            assert hello["type"] == "hello"

        asyncio.run(trusted())
        for server in (one, two):
            assert_healthy(server)


async def close_code_after(ws: Any, payload: str | list[str]) -> int | None:
    """Send `payload`, read until the server closes; the code it closed with."""
    try:
        await ws.send(payload)
        await recv_until(ws, "never")
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


@pytest.mark.slow
@db
def test_daphne_refuses_oversized_frames_with_1009_and_stays_healthy(
    server_env: dict[str, str], log_dir: Path, alice: User
) -> None:
    room = lobby()
    for n in range(270):
        services.message_post(room_id=room.pk, author=alice, body="h" * 4000, client_id=f"h{n}")
    cookie = session_cookie(alice)
    with daphnes({**server_env, **LIMITED_ENV}, log_dir, 1) as (server,):

        async def scenario() -> None:
            for payload in ("x" * 2**20, ["y" * 40_000, "y" * 40_000]):  # a frame; fragments
                ws, hello = await open_lobby(server, cookie)
                # The limit is on what clients send: a 200 KB hello still goes out.
                assert len(json.dumps(hello)) > 3 * 64 * 1024
                assert await close_code_after(ws, payload) == 1009
            # So does a resume of over 1 MiB (past autobahn's default cap on sends, which
            # stock daphne applies to outgoing messages too).
            ws = await ws_connect(server, "/ws/chat/lobby/?after=0", cookie)
            hello = await recv_json(ws)
            assert len(hello["history"]) == 270
            assert len(json.dumps(hello)) > 2**20
            await ws.send(json.dumps(send_frame("still fine", "ok")))
            assert (await recv_until(ws, "ack"))["message"]["body"] == "still fine"
            await ws.close()

        asyncio.run(scenario())
        assert_healthy(server)
