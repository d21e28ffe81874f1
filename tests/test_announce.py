"""Server-side push across processes, with real parts: `manage.py announce` in a process
of its own and a token-authenticated script over HTTP reach WebSocket clients on two
daphne processes through Redis."""

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services
from chat.models import Message, Room
from tests.conftest import session_cookie
from tests.servers import ROOT, daphnes, recv_json, recv_until, ws_connect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_announce_from_its_own_process_reaches_clients_on_two_daphnes(
    server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User]
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    cookies = [session_cookie(alice), session_cookie(bob)]
    secret = services.token_create(user=alice, name="script").secret
    env = {**server_env, "DJANGO_MEDIA_ROOT": str(log_dir / "media")}
    with daphnes(env, log_dir, 2) as servers:

        async def scenario() -> list[dict[str, Any]]:
            sockets = [await ws_connect(servers[i], "/ws/chat/lobby/", cookies[i]) for i in (0, 1)]
            for ws in sockets:
                assert (await recv_json(ws))["type"] == "hello"
            announce = await asyncio.create_subprocess_exec(
                sys.executable,
                "manage.py",
                "announce",
                "lobby",
                "Deploy at 17:00",
                cwd=ROOT,
                env={**servers[0].env},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(announce.communicate(), 60)
            assert announce.returncode == 0, output.decode()
            assert b"Posted to lobby as seq 1" in output
            got = [(await recv_until(ws, "message"))["message"] for ws in sockets]

            # A script with a token posts over HTTP to process one; both sockets see it.
            request = urllib.request.Request(
                f"{servers[0].http}/api/rooms/lobby/messages/",
                data=json.dumps({"body": "from a script", "client_id": "s1"}).encode(),
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            )
            response = await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
            assert response.status == 201
            posted = json.loads(response.read())
            for ws in sockets:
                assert (await recv_until(ws, "message"))["message"] == posted
                await ws.close()
            return got

        received = asyncio.run(scenario())
        assert [(m["kind"], m["author"], m["body"]) for m in received] == [
            ("system", None, "Deploy at 17:00")
        ] * 2
        assert list(Message.objects.order_by("seq").values_list("kind", "body")) == [
            ("system", "Deploy at 17:00"),
            ("user", "from a script"),
        ]
        for server in servers:
            log = server.log()
            assert "Traceback" not in log, log[-3000:]


def test_announce_fails_loudly_for_an_unknown_room(server_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "announce", "no-such-room", "hello"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **server_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "No room with the slug 'no-such-room'" in result.stderr
