"""Sockets end with their login session, on every process: logout, password change,
"log out other devices", deactivation by a script, and sessions removed without
Django's auth (caught by each process's periodic check). Each two-process test makes
the change on one daphne and watches a socket held by the other."""

import asyncio
import http.cookiejar
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import websockets
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.selectors import sessions_invalid
from chat import realtime
from tests.conftest import TEST_PASSWORD
from tests.servers import ROOT, Daphne, recv_json, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED_WITHIN_SECONDS = 1.0  # the bound for Django's own auth paths
CHECK_SECONDS = 1.0  # CHAT_SESSION_CHECK_SECONDS for the daphnes here


class Browser:
    """One login session over HTTP: a cookie jar, CSRF handled like a browser does."""

    def __init__(self, server: Daphne) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(str(c.value) for c in self.jar if c.name == name)

    def get(self, path: str) -> str:
        with self.opener.open(f"{self.server.http}{path}", timeout=10) as resp:
            return str(resp.read().decode())

    def post(self, path: str, data: dict[str, str]) -> str:
        if not any(c.name == "csrftoken" for c in self.jar):
            self.get("/accounts/login/")
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self.cookie("csrftoken")})
        request = urllib.request.Request(
            f"{self.server.http}{path}",
            data=body.encode(),
            headers={"Referer": f"{self.server.http}{path}"},
        )
        with self.opener.open(request, timeout=10) as resp:
            return str(resp.url)

    def log_in(self, username: str, password: str = TEST_PASSWORD) -> "Browser":
        landed = self.post("/accounts/login/", {"username": username, "password": password})
        assert "/accounts/login/" not in landed, "login failed"
        return self

    @property
    def session(self) -> str:
        return f"sessionid={self.cookie('sessionid')}"


async def open_all_rooms(server: Daphne, cookie: str) -> Any:
    ws = await ws_connect(server, "/ws/chat/", cookie)
    assert (await recv_json(ws))["type"] == "hello"
    return ws


async def close_code(ws: Any, within: float) -> int | None:
    """The close code the server sends within `within` seconds (frames before it are
    skipped); fails if the socket is still open then."""
    try:
        async with asyncio.timeout(within):
            async for _ in ws:
                pass
    except TimeoutError:
        pytest.fail(f"the socket was still open after {within} s")
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    return None  # closed normally (1000): not what any test here expects


async def still_open(ws: Any, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            async for _ in ws:
                pass
    except TimeoutError:
        return True
    except websockets.ConnectionClosed:
        return False
    return False


def run_script(env: dict[str, str], code: str) -> None:
    """A separate process doing what a shell or a cron script would, with the servers'
    settings (so it publishes through the same Redis)."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def shared_env_extra() -> dict[str, str]:
    return {"CHAT_SESSION_CHECK_SECONDS": str(CHECK_SECONDS)}


@pytest.fixture
def env(shared_server_env: dict[str, str], transactional_db: None) -> dict[str, str]:
    """The shared servers' environment, for scripts run against them."""
    return shared_server_env


@pytest.fixture
def alice_pw(make_user: Callable[..., User]) -> User:
    return make_user("alice", password=TEST_PASSWORD)


NEW_PASSWORD = "another-horse-battery-staple"
AUTH_PATHS = {
    # action: (path, form, whose socket closes: the acting session's or the other's)
    "logout": ("/accounts/logout/", {}, "acting"),
    "password change": (
        "/accounts/password_change/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        "other",
    ),
    "log out other devices": ("/accounts/settings/", {"action": "sessions"}, "other"),
}


@pytest.mark.slow
@pytest.mark.parametrize("action", list(AUTH_PATHS))
def test_an_auth_action_on_one_process_closes_the_ended_sessions_socket_on_the_other(
    action: str, shared_daphnes: list[Daphne], alice_pw: User
) -> None:
    path, form, closing = AUTH_PATHS[action]
    one, two = shared_daphnes
    acting = Browser(one).log_in("alice")
    other = Browser(one).log_in("alice")

    async def scenario() -> None:
        sockets = {
            "acting": await open_all_rooms(two, acting.session),
            "other": await open_all_rooms(two, other.session),
        }
        await asyncio.to_thread(acting.post, path, form)
        assert await close_code(sockets[closing], CLOSED_WITHIN_SECONDS) == 4401
        # The same user's session that did not end keeps its socket, past a periodic
        # session check too (after a password change it lives on under a new key).
        kept = sockets["other" if closing == "acting" else "acting"]
        assert await still_open(kept, CHECK_SECONDS * 2.5)
        await kept.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_script_deactivating_the_user_closes_every_socket_with_4403(
    env: dict[str, str], shared_daphnes: list[Daphne], alice_pw: User
) -> None:
    one, two = shared_daphnes
    session = Browser(one).log_in("alice").session

    async def scenario() -> None:
        sockets = [await open_all_rooms(two, session), await open_all_rooms(one, session)]
        await asyncio.to_thread(
            run_script,
            env,
            "from django.contrib.auth.models import User\n"
            "u = User.objects.get(username='alice'); u.is_active = False; u.save()",
        )
        for ws in sockets:
            assert await close_code(ws, CLOSED_WITHIN_SECONDS) == 4403

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.parametrize("how", ["bulk delete", "expiry", "password by update()"])
def test_sessions_ended_without_django_auth_close_within_the_check_interval(
    how: str, shared_daphnes: list[Daphne], alice_pw: User
) -> None:
    one, two = shared_daphnes
    session = Browser(one).log_in("alice").session

    async def scenario() -> None:
        sockets = [await open_all_rooms(two, session), await open_all_rooms(one, session)]

        def end_it() -> None:
            if how == "bulk delete":
                Session.objects.all().delete()
            elif how == "expiry":
                Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
            else:  # a new password hash: the session's auth hash no longer matches
                user = User(pk=alice_pw.pk, password=alice_pw.password)
                user.set_password("changed-behind-the-back")
                User.objects.filter(pk=alice_pw.pk).update(password=user.password)

        await asyncio.to_thread(end_it)
        for ws in sockets:
            assert await close_code(ws, CHECK_SECONDS * 3 + 2) == 4401  # two checks

    asyncio.run(scenario())


def test_the_check_names_each_invalid_session_in_two_queries_per_batch(
    make_user: Callable[..., User], django_assert_max_num_queries: Any
) -> None:
    from django.test import Client

    users = [make_user(f"u{n}", password=TEST_PASSWORD) for n in range(6)]
    keys = []
    for user in users:
        client = Client()
        client.force_login(user)
        keys.append(client.session.session_key)
    Session.objects.filter(session_key=keys[1]).delete()
    Session.objects.filter(session_key=keys[2]).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    User.objects.filter(pk=users[3].pk).update(is_active=False)
    users[4].set_password("new-password-here")
    users[4].save()
    sockets = [(key, user.pk) for key, user in zip(keys, users, strict=True)]
    sockets.append((keys[5], users[0].pk))  # someone else's session
    with django_assert_max_num_queries(2):
        found = sessions_invalid(sockets=sockets)
    assert found == {
        (keys[1], users[1].pk): 4401,
        (keys[2], users[2].pk): 4401,
        (keys[3], users[3].pk): 4403,
        (keys[4], users[4].pk): 4401,
        (keys[5], users[0].pk): 4401,
    }


async def test_the_periodic_check_closes_an_in_process_socket(
    open_socket: Callable[..., Any], make_user: Callable[..., User]
) -> None:
    from channels.db import database_sync_to_async

    alice = await database_sync_to_async(make_user)("alice")
    comm = await open_socket(alice, "/ws/chat/")
    assert (await comm.connect())[0]
    assert (await comm.receive_json_from(timeout=3))["type"] == "hello"
    sync = (await realtime.current().start()).sync
    assert await sync.check_sessions_once() == 0  # a valid session stays
    await database_sync_to_async(lambda: Session.objects.all().delete())()
    # Seen ended once: kept (a renamed session is missing for a moment); twice: closed.
    assert await sync.check_sessions_once() == 0
    assert await sync.check_sessions_once() == 1
    closed = await comm.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4401}
