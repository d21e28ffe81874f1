"""The daphne adapter (chatsite/lifecycle.py) checks the internals it patches: on this
daphne/autobahn/Twisted every one is there; when one is missing the patch that needs it
is skipped with one warning, and messages still go out through plain ASGI."""

import asyncio
import json
import logging
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.contrib.auth.models import User
from twisted.internet import abstract, tcp

from chat.models import Room
from chat.realtime.wire import RAW_SEND_EXTENSION
from chatsite import lifecycle
from tests.conftest import session_cookie
from tests.servers import recv_until, start_daphne, ws_connect


class FakeServer:
    """daphne.server.Server's create_application (importing daphne.server installs a
    reactor, which a test process must not do)."""

    def create_application(self, protocol: object, scope: dict[str, Any]) -> object:
        return scope


class FakeReactor:
    def __init__(self) -> None:
        self.when_running: list[Callable[[], None]] = []

    def callWhenRunning(self, f: Callable[[], None]) -> None:
        self.when_running.append(f)

    def callFromThread(self, f: Callable[[], None]) -> None:
        f()

    def stop(self) -> None:
        pass


def internals(**overrides: Any) -> dict[str, Any]:
    return {
        "server": FakeServer,
        "protocol": WebSocketProtocol,
        "factory": WebSocketFactory,
        "tcp_connection": tcp.Connection,
        "reactor": FakeReactor(),
        **overrides,
    }


def without_temp_data_len(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Twisted whose connections no longer keep _tempDataLen."""
    real_init = abstract.FileDescriptor.__init__

    def init(self: Any, reactor: Any = None) -> None:
        real_init(self, reactor)
        del self._tempDataLen

    monkeypatch.setattr(abstract.FileDescriptor, "__init__", init)


def test_every_internal_is_there_on_the_pinned_versions() -> None:
    assert lifecycle.check(**internals()) == {}


def test_a_missing_twisted_internal_turns_off_the_raw_send_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_temp_data_len(monkeypatch)
    missing = lifecycle.check(**internals())
    assert list(missing) == [lifecycle.RAW_SEND]
    assert missing[lifecycle.RAW_SEND] == ["twisted.internet.tcp.Connection()._tempDataLen"]


def test_install_skips_what_cannot_apply_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    without_temp_data_len(monkeypatch)
    # Subclasses, so that the patches land on them and not on daphne's own classes.
    protocol = type("Protocol", (WebSocketProtocol,), {})
    factory = type("Factory", (WebSocketFactory,), {})
    server = type("Server", (FakeServer,), {})
    reactor = FakeReactor()
    with caplog.at_level(logging.WARNING, logger="chatsite.lifecycle"):
        applied = lifecycle.install(
            **internals(server=server, protocol=protocol, factory=factory, reactor=reactor)
        )
    assert applied == set(lifecycle.PATCHES) - {lifecycle.RAW_SEND}
    warnings = [r for r in caplog.records if r.name == "chatsite.lifecycle"]
    assert len(warnings) == 1
    assert "_tempDataLen" in warnings[0].getMessage()
    assert "raw_send" in warnings[0].getMessage()
    # The raw writer is not offered: a consumer's scope gets no extension.
    scope = server().create_application(FakeServer(), {"type": "websocket"})
    assert RAW_SEND_EXTENSION not in scope.get("extensions", {})
    # The other patches did apply.
    assert protocol.__dict__["serverClose"] is not WebSocketProtocol.serverClose
    assert reactor.when_running


def test_with_every_internal_the_raw_writer_is_offered() -> None:
    server = type("Server", (FakeServer,), {})
    applied = lifecycle.install(
        **internals(
            server=server,
            protocol=type("Protocol", (WebSocketProtocol,), {}),
            factory=type("Factory", (WebSocketFactory,), {}),
        )
    )
    assert lifecycle.RAW_SEND in applied
    scope = server().create_application(FakeServer(), {"type": "websocket"})
    assert callable(scope["extensions"][RAW_SEND_EXTENSION])


SITECUSTOMIZE = """
    # Loaded by the daphne below: a Twisted whose connections keep no _tempDataLen, as
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
        line for line in log.splitlines() if "chatsite.lifecycle" in line and "WARNING" in line
    ]
    assert len(lines) == 1, log
    assert "_tempDataLen" in lines[0]
    assert "raw_send" in lines[0]
    assert "Traceback" not in log
