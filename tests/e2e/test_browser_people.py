"""Real-browser people features (#23): a direct message started from the sidebar's "+"
with the keyboard only, the conversation in the Direct messages section with the other
person's live presence, the sidebar's folded sections and order remembered, the people
directory's search, and profile cards (opened from a name, closed with Escape, their
"Message" button opening the conversation). Headless Chromium against one real daphne."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from accounts import profiles
from accounts.models import Profile
from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in, open_room, wait_until
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAX_TABS = 60  # Tab presses allowed to reach a control from the top of the page


def tab_to(page: Page, element_id: str) -> None:
    """Move the focus with the Tab key only until it is on this element."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} not reached with {MAX_TABS} Tab presses")


def serious_axe(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def make_people(make_user: Callable[..., User]) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    carol = make_user("carol", password=TEST_PASSWORD)
    gone = make_user("gone_gary", password=TEST_PASSWORD)
    profiles.profile_update(user=bob, display_name="Robert Zimmer")
    Profile.objects.filter(user=bob).update(timezone="Asia/Tokyo")
    gone.is_active = False
    gone.save()
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    for user in (alice, bob, carol):
        services.room_join(user=user, slug="lobby")


@pytest.mark.timeout(180)
def test_start_a_dm_by_keyboard_see_presence_search_people_and_open_profile_cards(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_people(make_user)
    artifacts = Path("test-artifacts")
    artifacts.mkdir(exist_ok=True)
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        bob = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        open_room(bob, "lobby")
        alice = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        alice.set_viewport_size({"width": 1366, "height": 820})
        open_room(alice, "lobby")
        expect(alice.locator("#dm-empty")).to_be_visible()

        # Keyboard only: Tab to the "+" of Direct messages, Enter, type, arrows, Enter.
        alice.locator("body").focus()
        tab_to(alice, "dm-add")
        alice.keyboard.press("Enter")
        picker = alice.locator("#people-picker")
        expect(picker).to_be_visible()
        expect(alice.locator("#people-picker-input")).to_be_focused()
        options = alice.locator("#people-picker-list [role=option]")
        # Everyone active but oneself; a deactivated account is never offered.
        expect(options).to_have_count(2)
        expect(options).to_have_text([re.compile(r"^carol"), re.compile(r"^Robert Zimmer @bob")])
        alice.keyboard.press("Escape")
        expect(picker).to_be_hidden()
        expect(alice.locator("#dm-add")).to_be_focused()  # focus went back
        alice.keyboard.press("Enter")
        expect(picker).to_be_visible()
        alice.keyboard.type("zimm")
        expect(options).to_have_text([re.compile(r"^Robert Zimmer @bob")])
        alice.keyboard.press("ArrowDown")  # wraps round to the one option
        expect(options.first).to_have_attribute("aria-selected", "true")
        alice.keyboard.press("Enter")
        expect(alice).to_have_url(re.compile(r"/chat/dm-\d+-\d+/$"))
        expect(alice.locator("#room")).to_have_attribute("data-loaded", "true")

        # The conversation is in Direct messages, with bob's avatar and his presence.
        dm = alice.locator("#dm-list li.dm")
        expect(dm).to_have_count(1)
        expect(dm.locator("a.room-link")).to_have_text("Robert Zimmer @bob")
        expect(dm).to_have_attribute("data-online", "true")
        expect(dm.locator(".presence-dot.online")).to_have_count(1)
        expect(dm.locator("a.room-link")).to_have_attribute(
            "aria-label", re.compile(r"^Robert Zimmer @bob, online")
        )
        expect(dm.locator("button.dm-person img.avatar")).to_have_count(1)
        alice.screenshot(path=str(artifacts / "people-sidebar-dm.png"))
        # bob leaves: the dot follows live, without a reload.
        alice.evaluate("() => { window.__notReloaded = true; }")
        bob.close()
        expect(dm).to_have_attribute("data-online", "false")
        assert alice.evaluate("window.__notReloaded") is True

        # The profile card from the sidebar's avatar: names, local time, presence; Escape
        # closes it and the focus goes back to the avatar.
        person = dm.locator("button.dm-person")
        person.focus()
        alice.keyboard.press("Enter")
        card = alice.locator("#profile-card")
        expect(card).to_be_visible()
        expect(alice.locator("#profile-card-name")).to_have_text("Robert Zimmer")
        expect(alice.locator("#profile-card-handle")).to_have_text("@bob")
        expect(alice.locator("#profile-card-time")).to_have_text(
            re.compile(r"^\d\d:\d\d local time$")
        )
        expect(alice.locator("#profile-card-presence")).to_have_text("offline")
        expect(alice.locator("#profile-card-message")).to_be_focused()
        alice.keyboard.press("Escape")
        expect(card).to_be_hidden()
        expect(person).to_be_focused()

        # The online list's names open cards too; none offers to message oneself.
        alice.locator('#online [data-profile="alice"]').click()
        expect(card).to_be_visible()
        expect(alice.locator("#profile-card-name")).to_have_text("alice")
        expect(alice.locator("#profile-card-message")).to_be_hidden()
        alice.keyboard.press("Escape")
        expect(card).to_be_hidden()

        # Sections fold, and the fold and the unread-first order survive a reload.
        alice.locator("#dm-title").click()
        expect(alice.locator("#dm-list")).to_be_hidden()
        expect(alice.locator("#dm-title")).to_have_attribute("aria-expanded", "false")
        alice.locator("#sidebar-unread-first").check()
        # The Rooms "+" offers creating and browsing rooms; Escape closes it.
        alice.locator("#rooms-add").focus()
        alice.keyboard.press("Enter")
        expect(alice.locator("#rooms-add-menu")).to_be_visible()
        expect(alice.locator("#rooms-add-menu a")).to_have_text(
            ["Create a room", "Browse and join rooms"]
        )
        alice.keyboard.press("Escape")
        expect(alice.locator("#rooms-add-menu")).to_be_hidden()
        expect(alice.locator("#rooms-add")).to_be_focused()
        alice.reload()
        expect(alice.locator("#room")).to_have_attribute("data-loaded", "true")
        expect(alice.locator("#dm-list")).to_be_hidden()
        expect(alice.locator("#sidebar-unread-first")).to_be_checked()
        alice.locator("#dm-title").click()
        expect(alice.locator("#dm-list li.dm")).to_have_count(1)

        # The people directory: a server-side search, and a card's "Message" button.
        alice.goto("/people/")
        people = alice.locator(".people-list li.person")
        expect(people).to_have_count(3)  # alice, bob, carol; not the deactivated one
        assert serious_axe(alice) == []
        alice.fill("#people-q", "carol")
        with alice.expect_navigation():
            alice.keyboard.press("Enter")
        expect(people).to_have_count(1)
        expect(people.locator(".display-name")).to_have_text("carol")
        alice.fill("#people-q", "zimmer")
        with alice.expect_navigation():
            alice.keyboard.press("Enter")
        expect(people).to_have_count(1)
        expect(people.locator(".local-time")).to_have_text(re.compile(r"^\d\d:\d\d local time$"))
        alice.screenshot(path=str(artifacts / "people-directory.png"))
        # A phone: the directory holds without horizontal scroll.
        alice.set_viewport_size({"width": 390, "height": 844})
        assert alice.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (
            "the people page scrolls sideways at 390 px"
        )
        alice.screenshot(path=str(artifacts / "people-directory-390.png"))
        alice.set_viewport_size({"width": 1366, "height": 820})
        people.locator('[data-profile="bob"]').click()
        expect(card).to_be_visible()
        expect(alice.locator("#profile-card-name")).to_have_text("Robert Zimmer")
        wait_until(
            alice, "() => document.getElementById('profile-card-presence').textContent !== ''"
        )
        assert serious_axe(alice) == []
        alice.screenshot(path=str(artifacts / "people-profile-card.png"))
        with alice.expect_navigation():
            alice.locator("#profile-card-message").click()
        expect(alice).to_have_url(re.compile(r"/chat/dm-\d+-\d+/$"))
        expect(alice.locator("#room-name")).to_have_text(re.compile("alice|bob|Robert"))
        expect(alice.locator("#dm-list li.dm a.room-link")).to_have_attribute(
            "aria-current", "page"
        )
    assert errors == []
