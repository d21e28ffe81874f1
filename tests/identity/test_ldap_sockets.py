"""ldap_sync against live sockets: a person who logged in through the directory (the
real log-in form of a real daphne) holds sockets on two daphne processes; IT disables
them in the directory, `manage.py ldap_sync` runs as its own process, and every socket
closes within a second, as every deactivation's do."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from chat.models import AuditLog, Room
from chat.protocol.codes import CloseCode
from tests.identity import ldap_fixtures
from tests.identity.slapd import PASSWORDS, Slapd
from tests.servers import ROOT, daphnes, http_login, recv_json, ws_connect

directory = ldap_fixtures.directory


@pytest.mark.slow
def test_ldap_sync_closes_a_disabled_persons_sockets_on_every_process_within_a_second(
    server_env: dict[str, str], log_dir: Path, directory: Slapd
) -> None:
    Room.objects.update_or_create(slug="lobby", defaults={"name": "Lobby", "is_default": True})
    env = {**server_env, **directory.env(CHAT_LDAP_SYNC_MINUTES="0")}
    with daphnes(env, log_dir, 2) as (one, two):
        cookie = http_login(one.http, "bert", PASSWORDS["bert"])  # through the directory
        assert User.objects.get(username="bert").is_active

        async def scenario() -> float:
            sockets = [await ws_connect(s, "/ws/chat/lobby/", cookie) for s in (one, two)]
            for ws in sockets:
                assert (await recv_json(ws))["type"] == "hello"
            directory.disable("bert")
            sync = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "manage.py", "ldap_sync"],
                cwd=ROOT,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            synced = time.monotonic()
            assert sync.returncode == 0, sync.stderr
            assert "deactivated bert (disabled)" in sync.stdout
            for ws in sockets:
                await asyncio.wait_for(ws.wait_closed(), 3)
                assert ws.close_code == CloseCode.FORBIDDEN
            return time.monotonic() - synced

        assert asyncio.run(scenario()) < 1.0
    assert not User.objects.get(username="bert").is_active
    entry = AuditLog.objects.get(action="user.deactivate")
    assert (entry.actor, entry.target_user, entry.reason) == (
        None,
        User.objects.get(username="bert"),
        "ldap_sync",
    )
