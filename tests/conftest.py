"""Shared fixtures: users and sessions, in-process WebSocket connections, and the real
services (Redis, daphne processes) that multi-process tests run against."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from chat.database import dbcalls
from chat.events.frames import frame_problems
from chat.models import Room
from tests.servers import ROOT, Daphne, daphnes

# In CI the real services are part of the contract: their absence is a failure, not a skip.
REQUIRE_SERVICES = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_PASSWORD = "correct-horse-battery-staple"


# Long many-process tests that `python -m tests` runs in the browser tests' pass rather
# than the first PostgreSQL pass, so that the passes running side by side end together.
SIDE_PASS_MODULES = {"tests/test_multiprocess.py", "tests/test_rolling_restart.py"}
# Browser tests that `python -m tests` runs in the SQLite pass (the small install's
# engine, a real user shape too) instead of the browser pass, for the same reason.
SQLITE_BROWSER_MODULES = {"tests/e2e/test_browser_layout.py"}
# Modules whose tests that touch no database need nothing of the engine either: no
# server, no subprocess, no engine check (read for that, module by module). `python -m
# tests` runs those tests (engine_free) in the SQLite pass, which ends minutes before
# the PostgreSQL one; the module's database tests stay where they were.
ENGINE_FREE_MODULES = {
    "tests/dataport/test_slack_reading.py",
    "tests/failover/test_topology_config.py",
    "tests/identity/test_ldap_config.py",
    "tests/test_codes.py",
    "tests/test_consumer_handlers.py",
    "tests/test_daphne_admission.py",
    "tests/test_egress_triggers.py",
    "tests/test_events.py",
    "tests/test_fast_path.py",
    "tests/test_held_writes.py",
    "tests/test_history_around.py",
    "tests/test_mentions.py",
    "tests/test_ordering.py",
    "tests/test_outage_guard.py",
    "tests/test_protocol.py",
    "tests/test_push.py",
    "tests/test_rendering.py",
    "tests/test_search_query.py",
    "tests/test_shortcodes.py",
    "tests/test_slack_fuzz.py",
    "tests/test_slack_payload.py",
    "tests/test_stylesheets.py",
    "tests/test_wire.py",
}
# pytest-django's fixtures that open the test database (besides the django_db mark).
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_setup",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


# Many-process tests on Redis: the production shape, which runs on PostgreSQL. SQLite is
# the one-process install (the in-memory layer): `python -m tests` runs these once, in
# the PostgreSQL pass, not again on SQLite (node ids, or a prefix of them).
POSTGRESQL_ONLY = (
    "tests/test_presence.py::test_connect_disconnect_soak_leaks_no_presence_or_redis_keys",
    "tests/test_presence.py::test_users_on_two_processes_see_each_other_and_tabs_count_once",
    "tests/test_delivery_faults.py::test_redis_restart_mid_run_recovers_by_itself",
    "tests/test_limits.py::test_address_cap_and_attempts_hold_across_processes",
    "tests/test_limits.py::test_rate_limit_holds_across_two_connections_on_two_processes",
    "tests/test_access.py::test_ban_closes_sockets_on_a_second_process_within_a_second",
    "tests/test_announce.py::test_announce_from_its_own_process_reaches_clients_on_two_daphnes",
    "tests/test_load_smoke.py::test_concurrent_senders_on_two_processes",
    "tests/test_incoming_hooks.py::test_the_rate_limit_is_shared_by_two_processes",
    "tests/failover/test_sentinel_failover.py",
    "tests/failover/test_topologies.py",
    "tests/test_rolling_restart.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        one_engine = item.nodeid.replace("\\", "/").startswith(POSTGRESQL_ONLY)
        if item.get_closest_marker("django_db") is not None and not one_engine:
            item.add_marker(pytest.mark.orm)
        # Everything under tests/e2e/ drives Chromium: `python -m tests` runs them as a
        # pass of their own, so none may be missed by a forgotten marker.
        if "tests/e2e/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.browser)
        if item.nodeid.split("::")[0] in SIDE_PASS_MODULES:
            item.add_marker(pytest.mark.side_pass)
        if item.nodeid.split("::")[0] in SQLITE_BROWSER_MODULES:
            item.add_marker(pytest.mark.sqlite_browser)
        touches_database = item.get_closest_marker("django_db") is not None or bool(
            DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        if item.nodeid.split("::")[0] in ENGINE_FREE_MODULES and not touches_database:
            item.add_marker(pytest.mark.engine_free)


def unavailable(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI but unreachable", pytrace=False)
    pytest.skip(f"{what} unreachable on this machine")


@pytest.fixture(autouse=True)
def _read_threads_closed() -> Iterator[None]:
    """After each test, the read threads (chat/database/dbcalls.py) close their database
    connections, so the test database can be flushed and finally dropped."""
    yield
    dbcalls.shutdown()


@pytest.fixture(autouse=True)
def _server_frames_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame a chat socket sends a test client matches a shape declared in
    chat/events/frames.py: a new frame type, or a field clients were not told of, fails
    the test that first receives it."""
    real = WebsocketCommunicator.receive_output

    async def checked(self: WebsocketCommunicator, timeout: float = 1) -> Any:
        output = await real(self, timeout)
        echo = str(self.scope.get("path", "")).startswith("/ws/echo")
        if output.get("type") == "websocket.send" and "text" in output and not echo:
            frame_check(output["text"])
        return output

    monkeypatch.setattr(WebsocketCommunicator, "receive_output", checked)


def frame_check(text: str) -> None:
    problems = frame_problems(json.loads(text))
    assert not problems, f"server frame does not match its declared shape: {problems}: {text}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        unavailable(f"Redis at {REDIS_TEST_URL}")
    finally:
        client.close()
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """collectstatic once, as a deployment would, for daphne processes with DEBUG off."""
    root = tmp_path_factory.mktemp("static")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DJANGO_STATIC_ROOT": str(root),
        "DJANGO_SECRET_KEY": "collect",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return root


def database_url() -> str:
    """The URL of the test database pytest-django created, for other processes."""
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _server_env(redis_url: str, static_root: Path) -> dict[str, str]:
    from django.conf import settings

    return {
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "CHAT_LAYER_PREFIX": f"t{uuid.uuid4().hex[:8]}",  # isolates concurrent runs
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "0",
        "DJANGO_STATIC_ROOT": str(static_root),
        "DJANGO_CONN_MAX_AGE": "60",
        # Delivery and load tests open thousands of sockets from one address and send as
        # fast as acks come back; tests/test_limits.py turns on the limits it tests.
        "CHAT_MESSAGE_BURST": "0",
        "CHAT_MAX_CONNECTIONS_PER_USER": "0",
        "CHAT_MAX_CONNECTIONS_PER_IP": "0",
        "CHAT_CONNECT_ATTEMPTS_PER_MINUTE": "0",
        # tests/identity/ turns the second factor on where it is what they test.
        "CHAT_2FA_REQUIRED": "none",
    }


@pytest.fixture
def server_env(transactional_db: None, redis_url: str, static_root: Path) -> dict[str, str]:
    """Environment for real daphne processes sharing this test's database and Redis."""
    return _server_env(redis_url, static_root)


@pytest.fixture(scope="module")
def shared_env_extra() -> dict[str, str]:
    """Settings a module's shared servers run with besides server_env's (override it in
    the module)."""
    return {}


@pytest.fixture(scope="module")
def shared_server_env(
    django_db_setup: None, redis_url: str, static_root: Path, shared_env_extra: dict[str, str]
) -> dict[str, str]:
    """server_env for servers shared by a module's tests (shared_daphnes), and for the
    scripts those tests run against them (same database, Redis and layer prefix)."""
    return {**_server_env(redis_url, static_root), **shared_env_extra}


@pytest.fixture(scope="module")
def shared_daphnes(
    shared_server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Daphne]]:
    """Two daphne processes for all of a module's tests, instead of two per test (a
    start and stop is seconds each). Each test still starts from an empty database
    (its django_db(transaction=True) flushes after it), and rows are never given an id
    a previous test used, so what the servers cache (profiles by user id, rooms by id)
    cannot leak into a later test. Not for tests that stop, kill or reconfigure a
    server, or use the admin (content type ids change at every flush)."""
    with daphnes(shared_server_env, tmp_path_factory.mktemp("shared-daphnes"), 2) as servers:
        yield servers


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str, *, password: str | None = None, **extra: Any) -> User:
        if password is None:
            user = User(username=username, **extra)
            user.set_unusable_password()
            user.save()
            return user
        return User.objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


@pytest.fixture
def room(db: None) -> Room:
    return Room.objects.create(slug="general", name="General", topic="Anything goes")


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


SIDE_FRAMES = ("presence", "typing")


class ChatCommunicator(WebsocketCommunicator):  # type: ignore[misc]  # channels is untyped
    """Skips presence and typing frames unless a test asks for them (skip=())."""

    async def receive_json_from(
        self, timeout: float = 1, skip: tuple[str, ...] = SIDE_FRAMES
    ) -> Any:
        while True:
            frame = await super().receive_json_from(timeout)
            if frame.get("type") not in skip:
                return frame

    async def receive_nothing(
        self, timeout: float = 0.1, interval: float = 0.01, skip: tuple[str, ...] = SIDE_FRAMES
    ) -> bool:
        import json

        while not await super().receive_nothing(timeout, interval):
            frame = await self.receive_output()
            if frame.get("type") != "websocket.send" or "text" not in frame:
                return False
            if json.loads(frame["text"]).get("type") not in skip:
                return False
        return True


def communicator(
    path: str, *, cookie: str | None = None, origin: str = "http://testserver"
) -> WebsocketCommunicator:
    from chatsite.asgi import application

    headers = [(b"origin", origin.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return ChatCommunicator(application, path, headers=headers)


@pytest.fixture
async def open_socket() -> AsyncIterator[Callable[..., Any]]:
    """Connect in-process; every communicator is disconnected at the end of the test."""
    opened: list[WebsocketCommunicator] = []

    async def open_(user: User | None, path: str, **kwargs: Any) -> WebsocketCommunicator:
        from channels.db import database_sync_to_async

        cookie = await database_sync_to_async(session_cookie)(user) if user else None
        comm = communicator(path, cookie=cookie, **kwargs)
        opened.append(comm)
        return comm

    yield open_
    for comm in opened:
        if comm.future.cancelled():
            # A receive timed out, and asgiref cancelled the application: the test failed
            # on that TimeoutError. disconnect() would raise CancelledError, a BaseException
            # that stops pytest's teardown before the database is flushed, and every later
            # test of the pass would then fail on the rows left behind.
            continue
        await comm.disconnect()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
