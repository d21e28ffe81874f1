"""Health, readiness, metrics and structured logs: in-process for the rules, and with real
daphne processes for what only several processes show (host-wide totals, JSON lines)."""

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient, Client, override_settings

from chat import services
from chat.models import Message, Room
from tests.conftest import session_cookie
from tests.observe import (
    METRICS_TOKEN,
    events,
    http_get,
    json_lines,
    postgres_only,
    scrape,
    start_from_unit,
    value,
)
from tests.servers import Daphne, recv_json, recv_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)


# --- the endpoints, in process ---------------------------------------------------------


async def test_healthz_answers_whatever_host_the_probe_sends() -> None:
    response = await AsyncClient().get("/healthz", headers={"host": "10.1.2.3:8001"})
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_probes_answer_under_wsgi_too(client: Client) -> None:
    assert client.get("/healthz", headers={"host": "10.1.2.3"}).json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/accounts/login/").status_code == 200  # the rest passes through


async def test_readyz_checks_the_database_and_says_nothing_more() -> None:
    response = await AsyncClient().get("/readyz", headers={"host": "not-allowed.example"})
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "status": "ok",
        "checks": {"database": True, "accepting": True},
    }


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
async def test_readyz_is_503_when_redis_is_unreachable_without_saying_where() -> None:
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body == {
        "status": "unavailable",
        "checks": {"database": True, "redis": False, "accepting": True},
    }
    assert b"127.0.0.1" not in response.content


async def test_metrics_are_off_until_a_token_or_addresses_are_set() -> None:
    assert (await AsyncClient().get("/metrics")).status_code == 404


@override_settings(CHAT_METRICS_TOKEN=METRICS_TOKEN)
async def test_metrics_need_the_bearer_token() -> None:
    client = AsyncClient()
    missing = await client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=")
    assert b"chat_ws_connections_open" in right.content


@pytest.mark.parametrize(("allowed", "status"), [("127.0.0.0/8", 200), ("10.0.0.0/8", 403)])
async def test_metrics_can_be_limited_to_addresses(allowed: str, status: int) -> None:
    with override_settings(CHAT_METRICS_ALLOWED_IPS=[allowed]):
        assert (await AsyncClient().get("/metrics")).status_code == status


def test_moderation_actions_are_logged_as_json_without_the_reason(
    alice: User, make_user: Callable[..., User], room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    from django.conf import settings

    staff = make_user("mod", is_staff=True)
    message = Message.objects.create(room=room, author=alice, seq=1, body="rude words")
    with caplog.at_level(logging.INFO, logger="chat.events"):
        services.message_delete(message_id=message.pk, user=staff, reason="quoted: rude words")
    [record] = [r for r in caplog.records if getattr(r, "event", None) == "moderation"]
    json_formatter = _formatter(settings.LOGGING["formatters"]["json"])
    line = json.loads(json_formatter.format(record))
    assert line["event"] == "moderation"
    assert line["user"] == "mod"
    assert line["action"] == "message.hide"
    assert line["target"] == "general#1"
    assert line["level"] == "INFO"
    assert "rude words" not in json.dumps(line)


def _formatter(config: dict[str, Any]) -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    options = {key: item for key, item in config.items() if key != "()"}
    return JsonFormatter(**options)


# --- real processes --------------------------------------------------------------------


def _observed_env(server_env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
    metrics_dir = tmp_path / "metrics"
    return {
        **server_env,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "CHAT_METRICS_TOKEN": METRICS_TOKEN,
        **extra,
    }


async def _open_chat(server: Daphne, cookie: str | None) -> Any:
    ws = await ws_connect(server, "/ws/chat/lobby/", cookie)
    if cookie is not None:
        assert (await recv_json(ws))["type"] == "hello"
    return ws


async def _send(ws: Any, body: str, client_id: str, *, wait: bool = True) -> None:
    await ws.send(json.dumps({"type": "message.send", "body": body, "client_id": client_id}))
    if wait:
        await recv_until(ws, "ack")


def _wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_metrics_touch_their_directory_at_setup_not_at_import(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])  # its pid is surely dead once it has exited
    gone.wait()
    stale = tmp_path / f"counter_{gone.pid}.db"  # left by an earlier run of the host
    stale.write_bytes(b"")
    script = (
        "import json, os, sys\n"
        "from chat.ops import observability\n"
        "print(json.dumps(sorted(os.listdir(sys.argv[1]))))\n"
        "observability.setup()\n"
        "observability.setup()\n"
        "print(json.dumps(sorted(os.listdir(sys.argv[1]))))\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    at_import, after_setup = (json.loads(line) for line in run.stdout.splitlines())
    assert at_import == [stale.name]
    assert stale.name not in after_setup  # no other process alive: the run starts at zero
    assert {".lock", f"counter_{run_pid(after_setup)}.db"} < set(after_setup)


def run_pid(files: list[str]) -> int:
    (live,) = [name for name in files if name.startswith("gauge_live")]
    return int(live.removesuffix(".db").rsplit("_", 1)[1])


@pytest.mark.slow
def test_metrics_from_either_process_count_the_whole_host(
    server_env: dict[str, str], tmp_path: Path, alice: User, bob: User
) -> None:
    postgres_only()
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    env = _observed_env(server_env, tmp_path)
    cookies = {"alice": session_cookie(alice), "bob": session_cookie(bob)}
    one, two = (start_from_unit(env, tmp_path, name) for name in ("one", "two"))
    try:

        async def scrape_async(server: Daphne) -> dict[tuple[str, tuple[Any, ...]], float]:
            return await asyncio.to_thread(scrape, server.http)

        async def scenario() -> None:
            on_one = [await _open_chat(one, cookies[u]) for u in ("alice", "alice", "bob")]
            on_two = [await _open_chat(two, cookies[u]) for u in ("alice", "bob")]
            sockets = on_one + on_two
            for n in range(4):
                await _send(on_one[0], f"one-{n}", f"o{n}", wait=False)
            for n in range(3):
                await _send(on_two[1], f"two-{n}", f"t{n}", wait=False)
            for ws in sockets:  # every socket has every message: the deliveries are done
                for _ in range(7):
                    await recv_until(ws, "message")
            await on_two[0].send("this is not json")
            assert (await recv_until(on_two[0], "error"))["code"] == "bad_json"
            anonymous = await _open_chat(two, None)
            await asyncio.wait_for(anonymous.wait_closed(), 10)
            assert anonymous.close_code == 4401
            for server in (one, two):
                assert value(await scrape_async(server), "chat_ws_connections_open") == 5

            await asyncio.gather(*(ws.close() for ws in sockets))
            for _ in range(100):
                if value(await scrape_async(one), "chat_ws_connections_open") == 0:
                    break
                await asyncio.sleep(0.1)

            for server in (one, two):
                samples = await scrape_async(server)
                assert value(samples, "chat_ws_connections_open") == 0
                assert value(samples, "chat_ws_connects_total") == 5
                assert value(samples, "chat_ws_disconnects_total", code="1000") == 5
                assert value(samples, "chat_ws_refusals_total", code="4401") == 1
                assert value(samples, "chat_ws_frames_received_total") == 8
                assert value(samples, "chat_messages_received_total") == 7
                assert value(samples, "chat_messages_delivered_total") == 7 * 5
                assert value(samples, "chat_errors_total", code="bad_json") == 1
                assert value(samples, "chat_frame_handling_seconds_count", type="message.send") == 7
                assert value(samples, "chat_channel_layer_failures_total", operation="publish") == 0
                pids = {
                    dict(labels)["pid"]
                    for (name, labels) in samples
                    if name == "chat_process_resident_memory_bytes"
                }
                assert pids == {str(one.proc.pid), str(two.proc.pid)}

            # A process killed with a connection open: the host's gauge forgets it, the
            # counts that process made stay in the totals.
            held = await _open_chat(two, cookies["bob"])
            assert value(await scrape_async(one), "chat_ws_connections_open") == 1
            await asyncio.to_thread(two.stop, signal.SIGKILL)
            samples = await scrape_async(one)
            assert value(samples, "chat_ws_connections_open") == 0
            assert value(samples, "chat_ws_connects_total") == 6
            assert value(samples, "chat_messages_received_total") == 7
            await held.close()

        asyncio.run(scenario())
    finally:
        one.stop()
        two.stop()


@pytest.mark.slow
def test_json_logs_carry_user_room_ip_code_and_duration_but_no_bodies(
    server_env: dict[str, str], tmp_path: Path, alice: User
) -> None:
    postgres_only()
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    env = _observed_env(server_env, tmp_path, CHAT_LOG_FORMAT="json")
    cookie = session_cookie(alice)
    server = start_from_unit(env, tmp_path, "json")
    try:

        async def scenario() -> None:
            ws = await _open_chat(server, cookie)
            await _send(ws, "a very private body 7f3a", "p1")
            await ws.send(json.dumps({"type": "message.send", "body": "", "client_id": "p2"}))
            assert (await recv_until(ws, "error"))["code"] == "empty_body"
            await asyncio.sleep(0.3)  # the connection is measurably open
            await ws.close(code=1000)
            anonymous = await _open_chat(server, None)
            await asyncio.wait_for(anonymous.wait_closed(), 10)

        asyncio.run(scenario())
        status, _, _ = http_get(f"{server.http}/healthz")
        assert status == 200
        _wait_for(lambda: '"ws.disconnect"' in server.log())
    finally:
        server.stop()
    log = server.log()
    records = json_lines(log)  # every line, daphne's own included
    assert "a very private body 7f3a" not in log
    [connect] = events(records, "ws.connect")
    assert connect["user"] == "alice"
    assert connect["room"] == "lobby"
    assert connect["ip"] == "127.0.0.1"
    assert connect["level"] == "INFO"
    assert connect["logger"] == "chat.events"
    assert "time" in connect
    [disconnect] = events(records, "ws.disconnect")
    assert (disconnect["user"], disconnect["room"], disconnect["ip"]) == (
        "alice",
        "lobby",
        "127.0.0.1",
    )
    assert disconnect["code"] == 1000
    assert 0.3 <= disconnect["duration_s"] < 30
    [error] = events(records, "ws.error")
    assert (error["code"], error["user"], error["room"]) == ("empty_body", "alice", "lobby")
    [refused] = events(records, "ws.refuse")
    assert (refused["code"], refused["user"], refused["room"]) == (4401, None, "lobby")
