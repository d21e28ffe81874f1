"""The daphne adapter (chatsite/daphne_adapter/) checks the internals each patch relies
on: on the pinned daphne/autobahn/Twisted every one is there; when one is missing, the
system check names the patch by its id (chat.W101-W110), the patch is not applied, and
the server runs that part as stock daphne (plain ASGI sends, daphne's own SIGTERM)."""

import asyncio
import importlib.metadata
import json
import logging
import pprint
import signal
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daphne.http_protocol import WebRequest
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.contrib.auth.models import User
from django.core import checks as django_checks
from twisted.internet import abstract, defer, tcp

from chat.models import Room
from chat.realtime.wire import RAW_SEND_EXTENSION
from chatsite.daphne_adapter import (
    checks,
    internals,
    raw_send,
    serving,
    sigterm,
)
from chatsite.daphne_adapter.internals import Internals
from tests.conftest import session_cookie
from tests.servers import ROOT, recv_until, start_daphne, ws_connect
from tests.test_daphne_process import django_env


class FakeServer:
    """daphne.server.Server's create_application (importing daphne.server installs a
    reactor, which a test process must not do)."""

    def __init__(self, endpoints: list[str] | None = None) -> None:
        self.endpoints = endpoints or []

    def create_application(self, protocol: object, scope: dict[str, Any]) -> object:
        return scope

    def run(self) -> None:
        pass


class FakeReactor:
    def __init__(self) -> None:
        self.when_running: list[Callable[[], object]] = []
        self.triggers: list[tuple[str, str, Callable[[], object]]] = []

    def callWhenRunning(self, f: Callable[[], object]) -> None:
        self.when_running.append(f)

    def addSystemEventTrigger(self, phase: str, event: str, f: Callable[[], object]) -> None:
        self.triggers.append((phase, event, f))

    def callFromThread(self, f: Callable[..., object], *args: object) -> None:
        f(*args)

    def stop(self) -> None:
        pass


def fake_internals(**overrides: Any) -> Internals:
    """Subclasses of daphne's classes, so that patches land on them and not on daphne's."""
    values: dict[str, Any] = {
        "server": type("Server", (FakeServer,), {}),
        "protocol": type("Protocol", (WebSocketProtocol,), {}),
        "factory": type("Factory", (WebSocketFactory,), {}),
        "tcp_connection": tcp.Connection,
        "deferred": defer.Deferred,
        "reactor": FakeReactor(),
        "http_request": type("Request", (WebRequest,), {}),
        "opening_module": types.SimpleNamespace(pformat=pprint.pformat),
        **overrides,
    }
    return Internals(**values)


def without_temp_data_len(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Twisted whose connections no longer keep _tempDataLen."""
    real_init = abstract.FileDescriptor.__init__

    def init(self: Any, reactor: Any = None) -> None:
        real_init(self, reactor)
        del self._tempDataLen

    monkeypatch.setattr(abstract.FileDescriptor, "__init__", init)


def test_every_internal_is_there_on_the_pinned_versions() -> None:
    assert checks.missing(fake_internals()) == {}


def test_every_patch_has_its_own_documented_check_id() -> None:
    ids = [patch.check_id for patch in checks.PATCHES]
    assert len(set(ids)) == len(ids)
    deployment = (ROOT / "docs" / "deployment.md").read_text()
    for patch in checks.PATCHES:
        assert f"`{patch.check_id}`" in deployment, patch.check_id
        assert patch.needs, patch.name


def test_a_missing_twisted_internal_turns_off_the_raw_send_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_temp_data_len(monkeypatch)
    missing = checks.missing(fake_internals())
    assert missing == {"raw_send": ["twisted.internet.tcp.Connection()._tempDataLen"]}


def test_an_attribute_connections_no_longer_get_is_seen_on_a_real_handshake() -> None:
    # Set at run time by autobahn's handshake (however its source spells the assignment):
    # only an instance that went through one shows whether it is still there.
    class Protocol(WebSocketProtocol):  # type: ignore[misc]  # daphne is untyped
        def _connectionMade(self) -> None:
            super()._connectionMade()
            del self.send_queue

    missing = checks.missing(fake_internals(protocol=Protocol))
    assert list(missing) == ["raw_send"]
    assert missing["raw_send"] == [f"{__name__}.{Protocol.__qualname__}().send_queue"]


def test_a_version_outside_the_tested_range_turns_off_what_touches_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        return "27.0.0" if name == "twisted" else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    missing = checks.missing(fake_internals())
    assert missing == {
        "raw_send": ["twisted>=26.10,<27"],
        "sigterm": ["twisted>=26.10,<27"],
        "admission": ["twisted>=26.10,<27"],
    }


def test_check_deploy_names_the_patch_that_cannot_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(internals, "load", fake_internals)

    def chat_ids() -> list[str]:
        found = django_checks.run_checks(
            include_deployment_checks=True, tags=[django_checks.Tags.compatibility]
        )
        ids = [message.id or "" for message in found]
        return [id_ for id_ in ids if id_.startswith("chat.")]

    assert chat_ids() == []
    without_temp_data_len(monkeypatch)
    assert chat_ids() == [raw_send.PATCH.check_id] == ["chat.W105"]


def test_install_skips_what_cannot_apply_with_a_warning_naming_its_id(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    without_temp_data_len(monkeypatch)
    found = fake_internals()
    with caplog.at_level(logging.WARNING, logger="chatsite.daphne_adapter"):
        applied = checks.install(found)
    assert applied == {patch.name for patch in checks.PATCHES} - {"raw_send"}
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("chatsite.")]
    assert len(warnings) == 1
    assert "chat.W105" in warnings[0]
    assert "_tempDataLen" in warnings[0]
    # The fallback: the raw writer is not offered, so a consumer sends through ASGI.
    scope = found.server().create_application(FakeServer(), {"type": "websocket"})
    assert RAW_SEND_EXTENSION not in scope.get("extensions", {})
    # The other patches did apply.
    assert found.protocol.__dict__["serverClose"] is not WebSocketProtocol.serverClose
    assert found.reactor.when_running


def test_with_every_internal_the_raw_writer_is_offered() -> None:
    found = fake_internals()
    assert "raw_send" in checks.install(found)
    scope = found.server().create_application(FakeServer(), {"type": "websocket"})
    assert callable(scope["extensions"][RAW_SEND_EXTENSION])


def test_sigterm_is_taken_over_once_the_reactor_runs() -> None:
    found = fake_internals()
    assert "sigterm" in checks.install(found)
    before = signal.getsignal(signal.SIGTERM)
    try:
        for call in found.reactor.when_running:
            call()
        assert signal.getsignal(signal.SIGTERM) is not before
    finally:
        signal.signal(signal.SIGTERM, before)


def test_without_a_reactor_method_sigterm_stays_with_twisted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Reactor(FakeReactor):
        callFromThread = None  # type: ignore[assignment]

    found = fake_internals(reactor=Reactor())
    gaps = checks.missing(found)
    assert gaps == {"sigterm": ["reactor.callFromThread()"]}
    assert [w.id for w in checks.warnings(gaps)] == [sigterm.PATCH.check_id] == ["chat.W106"]
    before = signal.getsignal(signal.SIGTERM)
    assert "sigterm" not in checks.install(found)
    for call in found.reactor.when_running:
        call()
    assert signal.getsignal(signal.SIGTERM) is before  # nothing replaced Twisted's


def test_serving_hooks_run_with_the_reactor_or_warn() -> None:
    def start() -> None:
        pass

    def stop() -> None:
        pass

    found = fake_internals()
    checks.install(found, [(start, stop)])
    assert start in found.reactor.when_running
    assert ("before", "shutdown", stop) in found.reactor.triggers

    class Reactor(FakeReactor):
        addSystemEventTrigger = None  # type: ignore[assignment]

    found = fake_internals(reactor=Reactor())
    assert (
        [w.id for w in checks.warnings(checks.missing(found))]
        == [serving.PATCH.check_id]
        == ["chat.W107"]
    )
    checks.install(found, [(start, stop)])
    assert start not in found.reactor.when_running


SITECUSTOMIZE = """
    # Loaded by the processes below: a Twisted whose connections keep no _tempDataLen, as
    # far as the adapter's check can see (real sockets keep it, so Twisted still works).
    import socket
    from twisted.internet import tcp

    _init = tcp.Connection.__init__

    def _init_without(self, skt, protocol, reactor=None):
        _init(self, skt, protocol, reactor)
        if not isinstance(skt, socket.socket):
            del self._tempDataLen

    tcp.Connection.__init__ = _init_without
"""

NEWER_TWISTED = """
    # Loaded by the daphne below: a Twisted outside the tested range, as far as the
    # adapter's check can see; the raw writer and the SIGTERM takeover stay off.
    import importlib.metadata

    _version = importlib.metadata.version
    importlib.metadata.version = lambda name: "27.0.0" if name == "twisted" else _version(name)
"""


def test_manage_py_check_deploy_names_the_patch(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=django_env(PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "(chat.W105)" in output, output
    assert "_tempDataLen" in output
    assert "(chat.W10" not in output.replace("(chat.W105)", "")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/ws/chat/lobby/", "/ws/chat/"])
def test_daphne_without_an_internal_warns_once_and_still_delivers(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    tmp_path: Path,
    path: str,
) -> None:
    from chat import services

    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE))
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    users = [make_user(name) for name in ("alice", "bob")]
    for user in users:
        services.room_join(user=user, slug="lobby")
    cookies = [session_cookie(user) for user in users]
    env = {**server_env, "PYTHONPATH": str(tmp_path)}
    server = start_daphne(env, log_dir, "no-internal")
    try:

        async def scenario() -> None:
            alice = await ws_connect(server, path, cookies[0])
            bob = await ws_connect(server, path, cookies[1])
            await recv_until(alice, "hello")
            await recv_until(bob, "hello")
            frame = {"type": "message.send", "room": "lobby", "body": "plain", "client_id": "p1"}
            await alice.send(json.dumps(frame))
            got = await recv_until(bob, "message")
            assert got["message"]["body"] == "plain"
            await alice.close()
            await bob.close()

        asyncio.run(scenario())
    finally:
        server.stop()
    log = server.log()
    lines = [
        line for line in log.splitlines() if "chatsite.daphne_adapter" in line and "WARNING" in line
    ]
    assert len(lines) == 1, log
    assert "chat.W105" in lines[0]
    assert "_tempDataLen" in lines[0]
    assert "Traceback" not in log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_daphne_without_the_sigterm_patch_still_stops_on_sigterm(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    tmp_path: Path,
) -> None:
    from chat import services

    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(NEWER_TWISTED))
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    user = make_user("alice")
    services.room_join(user=user, slug="lobby")
    cookie = session_cookie(user)
    server = start_daphne({**server_env, "PYTHONPATH": str(tmp_path)}, log_dir, "no-sigterm")
    try:

        async def scenario() -> int | None:
            ws = await ws_connect(server, "/ws/chat/lobby/", cookie)
            await recv_until(ws, "hello")
            server.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ws.wait_closed(), timeout=20)
            return ws.close_code  # type: ignore[no-any-return]

        close_code = asyncio.run(scenario())
        returncode = server.proc.wait(timeout=20)
    finally:
        server.stop()
    log = server.log()
    # daphne's own stop: no 1012 close frame from the graceful path, and the process ends.
    assert close_code != 1012, log
    assert returncode == 0, log
    assert "chat.W106" in log
    assert "graceful shutdown" not in log
