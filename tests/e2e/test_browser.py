"""Real-browser end to end: headless Chromium (Debian's, never a downloaded one) against
one real daphne process, logging in through the real form and chatting through chat.js."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chat.models import Room
from tests.conftest import REQUIRE_SERVICES, TEST_PASSWORD
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
XSS_PAYLOAD = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if REQUIRE_SERVICES:
            pytest.fail(f"{CHROMIUM} is required in CI but missing", pytrace=False)
        pytest.skip(f"{CHROMIUM} not installed on this machine")
    return CHROMIUM


@contextmanager
def launch_chromium(executable: Path) -> Iterator[Browser]:
    """Not a fixture on purpose: sync Playwright runs an event loop in this thread, and
    while it is up Django refuses ORM calls (SynchronousOnlyOperation). Start it only
    once the test's database work is done; it is closed before the database is flushed."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def log_in(browser: Browser, base_url: str, username: str, errors: list[str]) -> Page:
    """A fresh context (its own cookie jar) logged in through the page's own form.
    Uncaught page script errors are appended to errors."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    assert page.url.rstrip("/") == base_url, f"{username} login landed on {page.url}"
    return page


def open_room(page: Page, slug: str) -> None:
    page.goto(f"/chat/{slug}/")
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")


def send(page: Page, body: str) -> None:
    page.fill("#body", body)
    page.click("#composer button[type=submit]")
    expect(page.locator("#body")).to_have_value("")  # chat.js clears it once sent


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
            assert page.locator("#messages img").count() == 0
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
