"""Real-browser end to end: headless Chromium (Debian's, never a downloaded one) against
one real daphne process, logging in through the real form and chatting through the room page."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in, open_room, send
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

XSS_PAYLOAD = '<img src=x onerror="window.__xss=1">'

OWN_AVATAR = "img.avatar[src^='/api/users/']"  # what the page itself draws


def last_message(page: Page, author: str, body: str) -> None:
    item = page.locator("#messages li.message").last
    expect(item.locator(".body")).to_have_text(body, use_inner_text=False)
    expect(item.locator(".author")).to_have_text(author)


@pytest.mark.timeout(120)
def test_two_browsers_chat_live_and_render_payloads_as_text(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    with (
        daphnes(server_env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        # Anonymous: the room page sends you to the login form.
        anonymous = browser.new_context(base_url=server.http)
        anon_page = anonymous.new_page()
        anon_page.goto("/chat/lobby/")
        assert anon_page.url.startswith(f"{server.http}/accounts/login/"), anon_page.url
        assert "next=/chat/lobby/" in anon_page.url, anon_page.url
        anonymous.close()

        page_errors: list[str] = []
        alice = log_in(browser, server.http, "alice", page_errors)
        bob = log_in(browser, server.http, "bob", page_errors)
        open_room(alice, "lobby")
        open_room(bob, "lobby")

        send(alice, "hello bob")
        last_message(bob, "alice", "hello bob")
        last_message(alice, "alice", "hello bob")

        send(bob, "hi alice")
        last_message(alice, "bob", "hi alice")
        last_message(bob, "bob", "hi alice")

        send(alice, XSS_PAYLOAD)
        for page in (alice, bob):
            last_message(page, "alice", XSS_PAYLOAD)
            body = page.locator("#messages li.message").last.locator(".body")
            assert body.text_content() == XSS_PAYLOAD
            # The page's own avatars are the only images in the list.
            assert page.locator(f"#messages img:not({OWN_AVATAR})").count() == 0
            assert page.locator(f"#messages {OWN_AVATAR}").count() >= 1
            assert page.evaluate("window.__xss") is None
            assert page.locator("#messages li.message").count() == 3
            seqs = page.locator("#messages li.message").evaluate_all(
                "items => items.map(item => Number(item.dataset.seq))"
            )
            assert seqs == sorted(set(seqs)), f"duplicate or unordered messages: {seqs}"
        assert not alice.locator("#error").is_visible()
        assert page_errors == []

        bob.screenshot(path=str(log_dir / "bob.png"), full_page=True)
        alice.context.close()
        bob.context.close()
    assert "Traceback" not in server.log(), server.log()
