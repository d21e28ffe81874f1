"""The installable app in a real browser: every page registers /sw.js for the whole
site under the strict CSP, and the worker handles a push (delivered through Chromium's
DevTools protocol, standing in for a push service): handed to a visible page, shown as
a notification when no page of the site is open."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from notify.management.commands.vapid_keys import vapid_key_pair
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOAD = {
    "type": "message",
    "room": "general",
    "room_name": "General",
    "is_direct": False,
    "seq": 7,
    "message_id": 70,
    "author": "bob",
    "body": "lunch?",
    "mention": True,
    "created_at": "2025-01-01T12:00:00+00:00",
    "url": "/chat/general/?seq=7",
    "tag": "chat-room-general",
}


@pytest.mark.timeout(120)
def test_service_worker_registers_and_shows_pushes_only_without_a_visible_page(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    public, private = vapid_key_pair()
    env = {**server_env, "CHAT_VAPID_PUBLIC_KEY": public, "CHAT_VAPID_PRIVATE_KEY": private}
    errors: list[str] = []
    with daphnes(env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        context = page.context
        context.grant_permissions(["notifications"], origin=server.http)
        registration = page.evaluate(
            """async () => {
                const reg = await navigator.serviceWorker.ready;
                return {scope: reg.scope, script: reg.active.scriptURL,
                        key: document.querySelector('meta[name="vapid-key"]').content,
                        manifest: (await fetch(
                            document.querySelector('link[rel=manifest]').href)).status};
            }"""
        )
        assert registration == {
            "scope": server.http + "/",
            "script": server.http + "/sw.js",
            "key": public,
            "manifest": 200,
        }

        cdp = context.new_cdp_session(page)
        registrations: list[str] = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(r["registrationId"] for r in event["registrations"]),
        )
        cdp.send("ServiceWorker.enable")
        for _ in range(50):  # the registration is reported as an event
            if registrations:
                break
            page.wait_for_timeout(100)
        assert registrations
        page.evaluate(
            """() => { window.pushed = [];
                navigator.serviceWorker.addEventListener("message",
                    (event) => window.pushed.push(event.data)); }"""
        )

        def deliver() -> None:
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": server.http,
                    "registrationId": registrations[0],
                    "data": json.dumps(PAYLOAD),
                },
            )

        deliver()  # the page is visible: it gets the push, no notification is shown
        page.wait_for_function("window.pushed.length === 1")
        assert page.evaluate("window.pushed[0]") == {"type": "push", "payload": PAYLOAD}
        shown = """async () => (await (await navigator.serviceWorker.ready).getNotifications())
            .map((n) => [n.title, n.body, n.tag, n.data.url])"""
        assert page.evaluate(shown) == []

        page.goto("about:blank")  # no page of the site is open now
        deliver()
        # Time for the worker to show it before a page of the site is visible again
        # (then it would hand the push to that page instead).
        page.wait_for_timeout(500)
        page.goto("/rooms/")
        assert page.evaluate(shown) == [
            ["bob in General", "lunch?", "chat-room-general", "/chat/general/?seq=7"]
        ]
    assert errors == []
