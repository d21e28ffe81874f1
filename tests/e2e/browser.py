"""Shared pieces of the real-browser tests: headless Chromium (Debian's, never a
downloaded one), logging in through the real form, and opening and chatting in a room
through the room page (chat/static/chat/main.js and its modules). The `chromium_path`
fixture is in this folder's conftest.py."""

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from django.db import connections
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    expect,
    sync_playwright,
)

from tests.conftest import TEST_PASSWORD

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


@contextmanager
def launch_chromium(executable: Path) -> Iterator[Browser]:
    """Not a fixture on purpose: sync Playwright runs an event loop in this thread, and
    while it is up Django refuses ORM calls (SynchronousOnlyOperation). Start it only
    once the test's database work is done; it is closed before the database is flushed
    (or read)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def fresh_page(browser: Browser, base_url: str, errors: list[str]) -> Page:
    """A page in a context of its own (no cookies shared), with the page's uncaught
    errors collected in `errors`."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def log_in(
    browser: Browser,
    base_url: str,
    username: str,
    errors: list[str],
    *,
    report_csp_and_dialogs: bool = False,
) -> Page:
    """A fresh context (its own cookie jar and localStorage) logged in through the page's
    own form. Uncaught page script errors are appended to errors; with
    report_csp_and_dialogs, so are Content-Security-Policy reports and dialogs (alert()
    from a payload), which are dismissed."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
    if report_csp_and_dialogs:

        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                errors.append(f"{username} CSP on {page.url}: {message.text}")

        def on_dialog(dialog: Dialog) -> None:
            errors.append(f"{username}: dialog {dialog.message!r} on {page.url}")
            dialog.dismiss()

        page.on("console", on_console)
        page.on("dialog", on_dialog)
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    assert page.url.rstrip("/") == base_url, f"{username} login landed on {page.url}"
    return page


def open_room(page: Page, slug: str, *, join: bool = True) -> None:
    """Load the room's page and wait until its latest messages are shown. A public room
    the user has not joined opens as a preview; with `join` its Join button is pressed
    first, as a user would before writing there."""
    page.goto(f"/chat/{slug}/")
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")
    room = page.locator("#room")
    expect(room).to_have_attribute("data-room-state", re.compile(r"^(joined|preview)$"))
    if join and room.get_attribute("data-room-state") == "preview":
        page.click("#join")
        expect(room).to_have_attribute("data-room-state", "joined")
    expect(room).to_have_attribute("data-loaded", "true")


def send(page: Page, body: str) -> None:
    page.fill("#body", body)
    page.click("#composer button[type=submit]")
    # the page clears it once the message is queued (and sent, if connected)
    expect(page.locator("#body")).to_have_value("")


def in_thread(work: Callable[[], object]) -> None:
    """ORM work while sync Playwright is up: Django refuses it on this thread (its event
    loop runs here), not on another one."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()


def wait_until(page: Page, expression: str, timeout_ms: int = 10_000) -> None:
    """Poll a page expression (wait_for_function would eval, which the page's CSP forbids)."""
    for _ in range(timeout_ms // 100):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"never true: {expression}")


def act(item: Locator, action: str) -> None:
    """Press one of a message's action-bar buttons (react-message, reply, edit, delete,
    copy-link) as a mouse user does: the bar shows on hover."""
    item.hover()
    button = item.locator(f":scope > .actions button.{action}")
    expect(button).to_be_visible()
    button.click()
