"""Real Chromium, threads (#24): a thread opened from its root beside the room, a reply
that stays out of the room's list and changes the reply count in another user's
browser, "Also send to #room", typing shown in the thread only, the sidebar's Threads
entry and view with its Unreads filter, Follow/Unfollow, a ?thread= link, back and
forward, Escape, the phone width (the panel covers the room, Back returns), and the
layout with axe. One real daphne. Long threads and files: test_browser_threads_long.py."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.conftest import session_cookie
from tests.e2e.browser import TIMEOUT_MS, act, launch_chromium, log_in, open_room, send
from tests.e2e.test_browser_layout import AXE, AXE_RUN_JS, OVERFLOWING_JS, SCREENSHOTS, WIDTHS
from tests.e2e.threads import (
    LIVE_MS,
    PANEL,
    REPLIES,
    ROOM_LIST,
    reply_in_panel,
    root_item,
    seed,
    thread_count,
    threads_entry,
)
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.timeout(240)
def test_a_thread_beside_the_room_live_in_another_browser_and_the_threads_list(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    ids = seed(make_user)
    root, old = ids["root"], ids["old"]
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        alice = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        bob = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        for page in (alice, bob):
            page.set_viewport_size({"width": 1366, "height": 820})
            open_room(page, "design")
        # The older thread's summary under its root; its reply is not in the room's list.
        summary = alice.locator(f'#messages li[data-id="{old}"] .thread-summary')
        expect(summary.locator(".thread-count")).to_have_text("1 reply")
        expect(alice.locator(ROOM_LIST).filter(has_text="knows this one")).to_have_count(0)
        # alice was named in it: she follows it, unread (hello's totals).
        expect(thread_count(alice)).to_have_text("1 unread")
        expect(threads_entry(alice).locator("#threads-mentions")).to_have_text("@1 mention")

        # Reply in thread, from the root's action bar: the panel opens beside the room.
        act(root_item(alice, root), "thread-reply")
        panel = alice.locator(PANEL)
        expect(panel).to_be_visible()
        expect(panel).to_have_attribute("data-loaded", "true")
        assert alice.url.endswith(f"/chat/design/?thread={root}")
        expect(panel.locator("li.thread-root")).to_contain_text("Release plan for Friday?")
        expect(alice.locator("#thread-body")).to_be_focused()
        room_box = alice.locator("#messages").bounding_box()
        panel_box = panel.bounding_box()
        assert room_box
        assert panel_box
        assert room_box["x"] + room_box["width"] <= panel_box["x"] + 1
        expect(alice.locator("#messages")).to_be_visible()  # the room stays in view

        reply_in_panel(alice, "Friday works, after the demo")
        expect(alice.locator(REPLIES).filter(has_text="after the demo")).to_have_count(1)
        expect(alice.locator(ROOM_LIST).filter(has_text="after the demo")).to_have_count(0)
        expect(panel.locator("#thread-follow")).to_have_text("Following")  # auto-follow

        # Bob's browser: the count appears under the root, live; the reply is not in the list.
        bob_summary = root_item(bob, root).locator(".thread-summary")
        expect(bob_summary.locator(".thread-count")).to_have_text("1 reply", timeout=LIVE_MS)
        expect(bob.locator(ROOM_LIST).filter(has_text="after the demo")).to_have_count(0)

        # Bob opens it from the summary; typing there shows in alice's panel only.
        bob_summary.click()
        expect(bob.locator(PANEL)).to_have_attribute("data-loaded", "true")
        expect(bob.locator(REPLIES).filter(has_text="after the demo")).to_have_count(1)
        expect(bob.locator("#thread-follow")).to_have_text("Follow")
        # Up in alice's empty thread composer edits her reply; bob's panel follows.
        alice.locator("#thread-body").press("ArrowUp")
        editor = alice.locator("#thread-messages textarea.editor")
        expect(editor).to_be_focused()
        editor.fill("Friday works, after the demo (edited plan)")
        editor.press("Enter")
        edited = bob.locator(REPLIES).filter(has_text="edited plan")
        expect(edited).to_have_count(1, timeout=LIVE_MS)
        bob.locator("#thread-body").press_sequentially("I will")
        expect(alice.locator("#thread-typing")).to_have_text(
            re.compile("bob is typing"), timeout=LIVE_MS
        )
        expect(alice.locator("#typing")).to_have_text("")
        # Also to the room: in both of alice's places, and the count is 2 everywhere.
        reply_in_panel(bob, "I will bring the slides", also=True)
        expect(alice.locator(REPLIES).filter(has_text="bring the slides")).to_have_count(
            1, timeout=LIVE_MS
        )
        in_room = alice.locator(ROOM_LIST).filter(has_text="bring the slides")
        expect(in_room).to_have_count(1)
        expect(in_room.locator(".thread-mark")).to_be_visible()
        expect(alice.locator("#thread-typing")).to_have_text("")
        for page in (alice, bob):
            expect(root_item(page, root).locator(".thread-count")).to_have_text(
                "2 replies", timeout=LIVE_MS
            )
        expect(bob.locator("#thread-follow")).to_have_text("Following")

        # Escape closes alice's panel; the address bar follows.
        alice.locator("#thread-body").focus()
        alice.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        assert alice.url.endswith("/chat/design/")
        # Back reopens the thread, forward closes it again.
        alice.go_back()
        expect(panel).to_be_visible()
        expect(alice.locator(REPLIES)).to_have_count(2)
        alice.go_forward()
        expect(panel).to_be_hidden()

        # A new reply by bob while alice's panel is closed: unread for her.
        reply_in_panel(bob, "Slides are ready")
        expect(thread_count(alice)).to_have_text("2 unread", timeout=LIVE_MS)

        # The Threads view: both followed threads, newest reply first; Unreads keeps both.
        threads_entry(alice).click()
        view = alice.locator("#threads-view")
        expect(view).to_be_visible()
        items = view.locator("li.thread-item")
        expect(items).to_have_count(2)
        expect(items.first).to_contain_text("Release plan for Friday?")
        expect(items.first.locator(".badge.count")).to_have_text("1 unread")
        expect(items.nth(1)).to_contain_text("Old question")
        expect(items.nth(1).locator(".badge.mention")).to_have_text("@1 mention")
        view.locator("#threads-unreads").click()
        expect(items).to_have_count(2)
        # Opening one from the list: its panel, read on screen, the badge goes down.
        items.nth(1).locator("button.thread-open").click()
        expect(panel).to_be_visible()
        expect(view).to_be_hidden()
        expect(panel.locator("li.thread-root")).to_contain_text("Old question")
        expect(thread_count(alice)).to_have_text("1 unread", timeout=LIVE_MS)
        expect(threads_entry(alice).locator("#threads-mentions")).to_be_hidden()
        # Unfollow in the panel, then the Unreads list holds only the other thread.
        panel.locator("#thread-follow").click()
        expect(panel.locator("#thread-follow")).to_have_text("Follow", timeout=LIVE_MS)
        alice.keyboard.press("Escape")  # back to the list it was opened from
        expect(view).to_be_visible()
        expect(items).to_have_count(1, timeout=LIVE_MS)
        expect(items.first).to_contain_text("Release plan for Friday?")
        items.first.locator("button.thread-open").click()
        expect(thread_count(alice)).to_have_text("", timeout=LIVE_MS)
        alice.keyboard.press("Escape")  # the panel closes: back to the list, read again
        expect(view.locator("#threads-status")).to_have_text("No unread threads.")
        expect(items).to_have_count(0)
        alice.keyboard.press("Escape")
        expect(view).to_be_hidden()
        # All: the followed one, with Follow/Unfollow in the list too.
        threads_entry(alice).click()
        view.locator("#threads-all").click()
        expect(items).to_have_count(1)
        items.first.locator("button.thread-follow").click()
        expect(items.first.locator("button.thread-follow")).to_have_text("Follow", timeout=LIVE_MS)

        # A link opens the thread, with its root (even when the room has not loaded it).
        linked = log_in(browser, server.http, "alice", errors)
        linked.goto(f"/chat/design/?thread={old}")
        expect(linked.locator(PANEL)).to_have_attribute("data-loaded", "true")
        expect(linked.locator(f"{PANEL} li.thread-root")).to_contain_text("Old question")
        expect(linked.locator(REPLIES).filter(has_text="knows this one")).to_have_count(1)
        assert errors == []


@pytest.mark.timeout(150)
def test_phone_width_the_panel_covers_the_room_and_back_returns(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    ids = seed(make_user)
    old = ids["old"]
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        page.set_viewport_size({"width": 390, "height": 844})
        open_room(page, "design")
        page.locator(f'#messages li[data-id="{old}"] .thread-summary').click()
        panel = page.locator(PANEL)
        expect(panel).to_have_attribute("data-loaded", "true")
        box = panel.bounding_box()
        assert box == {"x": 0, "y": 0, "width": 390, "height": 844}, box
        # What is at the middle of the screen is the panel, not the room.
        covered = page.evaluate(
            "() => document.elementFromPoint(195, 422).closest('#thread-panel') !== null"
        )
        assert covered
        # @ completes members in the thread's composer too. (Here, in the test's only
        # window: with two, the list closes as the other window takes the focus.)
        page.locator("#thread-body").press_sequentially("@ca")
        expect(page.locator("#thread-mention-list")).to_contain_text("@carol")
        page.locator("#thread-body").press("Enter")
        expect(page.locator("#thread-body")).to_have_value("@carol ")
        page.fill("#thread-body", "")
        reply_in_panel(page, "from my phone")
        expect(page.locator(REPLIES).filter(has_text="from my phone")).to_have_count(1)
        back = panel.locator("#thread-close")
        expect(back.locator(".back-label")).to_be_visible()
        back.click()
        expect(panel).to_be_hidden()
        expect(page.locator("#messages")).to_be_visible()
        assert page.url.endswith("/chat/design/")
        # The sidebar's Threads entry (in the drawer) opens the list, full-screen too.
        page.click("#sidebar-toggle")
        page.click("#threads-open")
        view = page.locator("#threads-view")
        expect(view.locator("li.thread-item")).to_have_count(1)
        assert view.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
        view.locator("#threads-close").click()
        expect(view).to_be_hidden()
        send(page, "still here")
        assert errors == []


@pytest.mark.timeout(240)
def test_the_panel_and_the_threads_view_fit_every_width_and_pass_axe(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    """test_browser_layout.py's checks (no sideways scroll, nothing past the viewport,
    axe with nothing serious or critical) with a thread open and with the Threads view,
    at its three widths, light and dark. axe-core comes from npm (`npm ci`)."""
    ids = seed(make_user)
    assert AXE.exists(), "npm ci installs axe-core"
    cookie = session_cookie(User.objects.get(username="alice"))
    problems: list[str] = []
    errors: list[str] = []
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        for theme in ("light", "dark"):
            context = browser.new_context(base_url=server.http, color_scheme=theme)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_init_script(path=str(AXE))
            name, value = cookie.split("=", 1)
            context.add_cookies([{"name": name, "value": value, "url": server.http}])
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            for width_name, (width, height) in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"/chat/design/?thread={ids['old']}")
                expect(page.locator(PANEL)).to_have_attribute("data-loaded", "true")
                expect(page.locator(REPLIES)).to_have_count(1)
                problems += check(page, f"thread-{width_name}-{theme}")
                page.locator("#thread-close").click()
                expect(page.locator(PANEL)).to_be_hidden()
                if width_name == "phone":
                    page.click("#sidebar-toggle")
                page.click("#threads-open")
                expect(page.locator("#threads-view li.thread-item")).to_have_count(1)
                if width_name == "phone":
                    expect(page.locator("#sidebar")).to_be_hidden()  # the drawer folded away
                problems += check(page, f"threads-{width_name}-{theme}")
            context.close()
    assert problems == []
    assert errors == []


def check(page: Page, where: str) -> list[str]:
    problems: list[str] = []
    scroll = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    if scroll[0] > scroll[1]:
        problems.append(f"{where}: scrolls sideways, {scroll[0]} > {scroll[1]}")
    overflowing = page.evaluate(OVERFLOWING_JS)
    if overflowing:
        problems.append(f"{where}: wider than the viewport: {overflowing}")
    problems.extend(f"{where}: axe {v}" for v in page.evaluate(AXE_RUN_JS))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{where}.png"))
    return problems
