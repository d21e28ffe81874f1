"""Real-browser notifications (#15): a hidden tab shows a browser notification for a
mention (permission granted in the test's context, turned on from a click), clicking it
opens the room at the message; a room set to "nothing" stays silent; a level set in one
browser context holds in the other at once; the composer completes @names. Headless
Chromium (Debian's) against one real daphne.

Headless Chromium reports every page as visible, so the test stands in for the window
manager: an init script lets it say the tab is hidden (document.hidden and
visibilitychange, which is all the page reads). The Notification constructor is the
browser's own, wrapped to record what the page shows."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in, open_room, send, wait_until
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAVED = "#messages li.message:not(.outbox)"
QUIET_MS = 1_500  # long enough for a notification that should not come to have come

HARNESS = """
(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { get: () => hidden, configurable: true });
  Object.defineProperty(Document.prototype, "visibilityState", {
    get: () => (hidden ? "hidden" : "visible"), configurable: true,
  });
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  const Real = window.Notification;
  window.__notes = [];
  window.__asked = 0;
  const ask = Real.requestPermission.bind(Real);
  Real.requestPermission = (...args) => {
    window.__asked += 1;
    return ask(...args);
  };
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({ title, body: options.body, tag: options.tag, note: this });
    }
  };
})();
"""


def notifying_page(browser: Browser, base: str, username: str, errors: list[str]) -> Page:
    page = log_in(browser, base, username, errors, report_csp_and_dialogs=True)
    page.context.add_init_script(HARNESS)
    return page


def notes(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "window.__notes.map(({title, body, tag}) => ({title, body, tag}))"
    )
    return found


def level_radio(page: Page, level: str) -> Any:
    return page.locator(f"#notify-menu input[name=notify-level][value='{level}']")


@pytest.mark.timeout(180)
def test_hidden_tab_notifies_a_mention_and_nothing_rooms_stay_silent_on_every_device(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    Room.objects.create(slug="design", name="Design")
    Room.objects.create(slug="ops", name="Ops")
    for user in (alice, bob):
        for slug in ("design", "ops"):
            services.room_join(user=user, slug=slug)
    dm = services.dm_open(user=alice, other=bob)
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        first = notifying_page(browser, server.http, "alice", errors)
        second = notifying_page(browser, server.http, "alice", errors)
        writer = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        open_room(first, "ops")
        open_room(second, "design")
        open_room(writer, "design")

        # Never asked for on load; asked for from a click (the test's context answers yes).
        assert first.evaluate("[window.__asked, Notification.permission]") == [0, "default"]
        first.context.grant_permissions(["notifications"], origin=server.http)
        second.context.grant_permissions(["notifications"], origin=server.http)
        first.click("#notify-menu summary")
        first.click("#notify-desktop")
        expect(first.locator("#notify-desktop-state")).to_have_text("Desktop notifications are on.")
        first.click("#notify-menu summary")

        # Hidden: a plain message in a "mentions" room is counted, not notified ...
        first.evaluate("window.__setHidden(true)")
        send(writer, "plain news")
        expect(first.locator('#sidebar a.room-link[data-slug="design"] .badge.count')).to_have_text(
            "1"
        )
        first.wait_for_timeout(QUIET_MS)
        assert notes(first) == []
        # ... a mention is, with a title flash.
        send(writer, "@alice can you look at this?")
        wait_until(first, "window.__notes.length === 1")
        assert notes(first) == [
            {
                "title": "bob in Design",
                "body": "@alice can you look at this?",
                "tag": "chat-room-design",
            }
        ]
        wait_until(first, "document.title.startsWith('\\u{1F514}')")
        # Clicking it opens the room at the message.
        first.evaluate("window.__setHidden(false)")
        first.evaluate("window.__notes[0].note.dispatchEvent(new Event('click'))")
        expect(first.locator("#room-name")).to_have_text("Design")
        expect(first.locator(f"{SAVED}.revealed .body")).to_have_text(
            "@alice can you look at this?"
        )
        expect(first.locator(f"{SAVED}.mentions-me .mention.me")).to_have_text("@alice")
        assert not first.title().startswith("\N{BELL}")

        # The level set in the other context holds here at once, without a reload.
        second.click("#notify-menu summary")
        level_radio(second, "nothing").check()
        expect(level_radio(first, "nothing")).to_be_checked()
        first.click('#sidebar a.room-link[data-slug="ops"]')  # in place: no reload
        expect(first.locator("#room-name")).to_have_text("Ops")
        first.evaluate("window.__setHidden(true)")
        send(writer, "@alice still there?")
        expect(
            first.locator('#sidebar a.room-link[data-slug="design"] .badge.mention')
        ).to_be_visible()
        first.wait_for_timeout(QUIET_MS)
        assert len(notes(first)) == 1  # "nothing": counted, not notified

        # A direct message (level "all" by default) still notifies: the page is not mute.
        open_room(writer, dm.slug)
        send(writer, "just between us")
        wait_until(first, "window.__notes.length === 2")
        assert notes(first)[1] == {
            "title": "bob",
            "body": "just between us",
            "tag": f"chat-room-{dm.slug}",
        }
        # The links of emails and pushes (/chat/<slug>/?seq=N) open at that message.
        first.goto("/chat/design/?seq=2")
        expect(first.locator(f"{SAVED}.revealed .body")).to_have_text(
            "@alice can you look at this?"
        )
        assert errors == []
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.timeout(120)
def test_the_composer_completes_member_names(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    from accounts.models import Profile

    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bobby", password=TEST_PASSWORD)
    Profile.objects.create(user=bob, display_name="Robert Tables")
    make_user("bobcat", password=TEST_PASSWORD)  # not a member: never offered
    Room.objects.create(slug="design", name="Design")
    for user in (alice, bob):
        services.room_join(user=user, slug="design")
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        open_room(page, "design")
        page.locator("#body").press_sequentially("hi @rob")
        options = page.locator("#mention-list [role=option]")
        expect(options).to_have_count(1)
        expect(options.first).to_contain_text("@bobby Robert Tables")
        page.keyboard.press("Enter")  # picks the name; does not send
        expect(page.locator("#body")).to_have_value("hi @bobby ")
        page.locator("#body").press_sequentially("and @he")
        expect(options).to_have_count(1)
        expect(options.first).to_contain_text("@here")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # the list is closed: this sends
        expect(page.locator(f"{SAVED} .body").last).to_have_text("hi @bobby and @here")
        expect(page.locator(f"{SAVED} .body .mention").first).to_have_text("@bobby")
        assert errors == []
    assert "Traceback" not in server.log(), server.log()
