"""Real-browser room page with its sidebar (#12): one socket for every joined room, unread
and mention counts that follow one user across tabs, rooms switched in place with the
address bar and the back button following, the phone layout, the keyboard switcher and
an axe-core accessibility check. Headless Chromium (Debian's, never a downloaded one)
against one real daphne."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in, open_room, send
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_MS = 5_000  # a count reaches every tab of the user within this
SAVED = "#messages li.message:not(.outbox)"


def room_link(page: Page, slug: str) -> Locator:
    return page.locator(f'#sidebar a.room-link[data-slug="{slug}"]')


def sockets_opened(page: Page) -> list[str]:
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    return opened


def make_rooms(make_user: Callable[..., User]) -> tuple[User, User]:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    Room.objects.create(slug="design", name="Design", topic="Pixels and words")
    Room.objects.create(slug="ops", name="Ops")
    for user in (alice, bob):
        for slug in ("lobby", "design", "ops"):
            services.room_join(user=user, slug=slug)
    return alice, bob


@pytest.mark.timeout(150)
def test_counts_follow_the_user_across_tabs_and_rooms_switch_in_place(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_rooms(make_user)
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        first = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        second = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        bob = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        first_sockets = sockets_opened(first)
        open_room(first, "lobby")
        open_room(second, "lobby")
        open_room(bob, "design")
        for page in (first, second):
            expect(page.locator("#sidebar a.room-link")).to_have_count(3)
            expect(room_link(page, "lobby")).to_have_attribute("aria-current", "page")
            expect(room_link(page, "design")).to_have_attribute("aria-label", "Design")

        # Bob writes in a room neither of alice's tabs shows: both count it.
        send(bob, "morning @Alice, a question")
        send(bob, "and a second thought")
        for page in (first, second):
            link = room_link(page, "design")
            expect(link).to_have_attribute(
                "aria-label", "Design, 2 unread, 1 mention", timeout=LIVE_MS
            )
            expect(link.locator(".badge.count")).to_have_text("2")
            expect(link.locator(".badge.mention")).to_have_text("@1")
            expect(page.locator("#sidebar li.unread")).to_have_count(1)
            expect(page).to_have_title("(2) Lobby · Chat")
        first.screenshot(path=str(log_dir / "sidebar-unread.png"))

        # The first tab opens it, in place: no reload, no second socket; the address bar
        # follows; the "New messages" line sits above bob's first message; reading it
        # there clears the count in the other tab too.
        room_link(first, "design").click()
        expect(first).to_have_url(f"{server.http}/chat/design/")
        expect(first.locator("#room-name")).to_have_text("Design")
        expect(first.locator(".room-head .topic")).to_have_text("Pixels and words")
        expect(first.locator(SAVED)).to_have_count(2)
        marker_next = first.locator("#messages .new-marker + li.message .body")
        expect(marker_next).to_have_text("morning @Alice, a question")
        expect(room_link(first, "design")).to_have_attribute("aria-current", "page")
        expect(room_link(first, "lobby")).not_to_have_attribute("aria-current", "page")
        for page in (first, second):
            expect(room_link(page, "design")).to_have_attribute(
                "aria-label", "Design", timeout=LIVE_MS
            )
        expect(first).to_have_title("Design · Chat")
        expect(second).to_have_title("Lobby · Chat")
        assert first.evaluate("window.history.length") >= 2

        # A message in the room shown, in a visible tab, is read as it arrives.
        send(bob, "third, while you look")
        expect(first.locator(SAVED).last.locator(".body")).to_have_text("third, while you look")
        first.wait_for_timeout(1500)
        expect(room_link(second, "design")).to_have_attribute("aria-label", "Design")
        expect(second).to_have_title("Lobby · Chat")

        # Back and forward switch rooms as well, still on the same socket.
        room_link(first, "ops").click()
        expect(first).to_have_url(f"{server.http}/chat/ops/")
        expect(first.locator("#room-name")).to_have_text("Ops")
        first.go_back()
        expect(first).to_have_url(f"{server.http}/chat/design/")
        expect(first.locator("#room-name")).to_have_text("Design")
        expect(first.locator(SAVED)).to_have_count(3)
        first.go_back()
        expect(first).to_have_url(f"{server.http}/chat/lobby/")
        expect(first.locator("#room-name")).to_have_text("Lobby")
        expect(room_link(first, "lobby")).to_have_attribute("aria-current", "page")
        first.go_forward()
        expect(first.locator("#room-name")).to_have_text("Design")
        assert len(first_sockets) == 1, first_sockets
        assert first_sockets[0].endswith("/ws/chat/"), first_sockets

        # What is written goes to the room shown, and only there.
        send(first, "answer from the design room")
        expect(bob.locator(SAVED).last.locator(".body")).to_have_text("answer from the design room")
        expect(room_link(bob, "lobby")).to_have_attribute("aria-label", "Lobby")

        # A reload lands on the same room, resuming nothing it does not hold.
        first.reload()
        expect(first.locator("#status")).to_have_attribute("data-state", "connected")
        expect(first.locator("#room-name")).to_have_text("Design")
        expect(first.locator(SAVED)).to_have_count(4)
        assert first_sockets[-1].endswith("/ws/chat/"), first_sockets
        assert errors == []
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.timeout(150)
def test_phone_layout_keyboard_switcher_preview_and_accessibility(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_rooms(make_user)
    Room.objects.create(slug="random", name="Random", topic="Not joined yet")
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        sockets = sockets_opened(page)
        open_room(page, "lobby")

        # Keyboard alone: Ctrl+K opens the switcher, typing filters, Enter opens.
        page.keyboard.press("Control+k")
        dialog = page.locator("#switcher")
        expect(dialog).to_be_visible()
        expect(page.locator("#switcher-input")).to_be_focused()
        page.keyboard.type("des")
        expect(page.locator("#switcher-list [role=option]")).to_have_text(["Design"])
        page.keyboard.press("Enter")
        expect(dialog).to_be_hidden()
        expect(page).to_have_url(f"{server.http}/chat/design/")
        expect(page.locator("#room-name")).to_have_text("Design")
        expect(page.locator("#body")).to_be_focused()
        page.keyboard.press("Control+k")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(page).to_have_url(f"{server.http}/chat/design/")

        # Tab reaches the sidebar's rooms; Enter on one opens it.
        page.locator("#room-name").focus()
        page.keyboard.press("Shift+Tab")
        for _ in range(12):
            if page.evaluate("document.activeElement.dataset.slug === 'ops'"):
                break
            page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{server.http}/chat/ops/")
        expect(room_link(page, "ops")).to_have_attribute("aria-current", "page")
        assert len(sockets) == 1, sockets

        # A public room not joined: a live preview with a Join button, then joined.
        page.goto("/chat/random/")
        expect(page.locator("#room")).to_have_attribute("data-room-state", "preview")
        expect(page.locator("#join")).to_be_visible()
        expect(page.locator("#leave")).to_be_hidden()
        expect(page.locator("#body")).to_be_disabled()
        expect(page.locator("#preview-list a.room-link")).to_have_text("Random")
        page.click("#join")
        expect(page.locator("#room")).to_have_attribute("data-room-state", "joined")
        expect(page.locator("#room-list a.room-link[data-slug=random]")).to_have_count(1)
        expect(page.locator("#preview-section")).to_be_hidden()
        expect(page.locator("#leave")).to_be_visible()
        send(page, "hello random")
        expect(page.locator(SAVED).last.locator(".body")).to_have_text("hello random")

        # Leave: the room goes from the sidebar, the page says so and offers Join again.
        page.click("#leave")
        expect(page.locator("#room-notice")).to_have_text("You left this room.")
        expect(page.locator("#room-list a.room-link[data-slug=random]")).to_have_count(0)
        expect(page.locator("#body")).to_be_disabled()
        expect(page.locator("#leave")).to_be_hidden()
        page.click("#join")
        expect(page.locator("#room")).to_have_attribute("data-room-state", "joined")
        expect(page.locator("#room-notice")).to_be_hidden()
        expect(page.locator("#body")).to_be_enabled()
        expect(page.locator("#room-list a.room-link[data-slug=random]")).to_have_count(1)

        # axe-core on the page with its sidebar: nothing serious or critical.
        results = Axe().run(page)
        serious = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
        assert serious == [], serious
        landmarks = page.evaluate(
            "() => [...document.querySelectorAll('nav[aria-label], main')].map(e => e.tagName"
            " + ':' + (e.getAttribute('aria-label') || ''))"
        )
        assert "NAV:Rooms" in landmarks
        assert "MAIN:" in landmarks

        # A phone: the sidebar folds away behind a button; the composer stays usable.
        page.set_viewport_size({"width": 360, "height": 740})
        toggle = page.locator("#sidebar-toggle")
        expect(toggle).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#sidebar")).to_be_hidden()
        composer = page.locator("#body").bounding_box()
        send_button = page.locator("#composer button[type=submit]").bounding_box()
        assert composer is not None
        assert send_button is not None
        assert composer["width"] >= 120, composer
        assert send_button["x"] + send_button["width"] <= 360, send_button
        page.screenshot(path=str(log_dir / "phone-folded.png"))
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#sidebar")).to_be_visible()
        page.screenshot(path=str(log_dir / "phone-open.png"))
        room_link(page, "design").click()
        expect(page).to_have_url(f"{server.http}/chat/design/")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#sidebar")).to_be_hidden()
        send(page, "from a phone")
        expect(page.locator(SAVED).last.locator(".body")).to_have_text("from a phone")
        results = Axe().run(page)
        serious = [
            v["id"]
            for v in results.response["violations"]
            if v["impact"] in {"serious", "critical"}
        ]
        assert serious == [], serious
        assert re.search(r"/ws/chat/", sockets[-1])
        assert errors == []
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.timeout(120)
def test_members_link_follows_the_room_shown(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice, bob = make_rooms(make_user)
    team = services.room_create(slug="team", name="Team", topic="", creator=alice, is_private=True)
    services.membership_add(room=team, user=bob, actor=alice)
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        owner = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        member = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        members = owner.locator(".room-head a.manage-members")

        # Loaded on a public room, the owner switches in place to her private room: the
        # link to its members appears, and goes again with the room.
        open_room(owner, "lobby")
        expect(members).to_have_count(0)
        room_link(owner, "team").click()
        expect(owner.locator("#room-name")).to_have_text("Team")
        expect(members).to_have_text("Members")
        expect(members).to_have_attribute("href", "/chat/team/members/")
        room_link(owner, "design").click()
        expect(owner.locator("#room-name")).to_have_text("Design")
        expect(members).to_have_count(0)
        owner.go_back()
        expect(owner.locator("#room-name")).to_have_text("Team")
        expect(members).to_have_text("Members")
        members.click()
        expect(owner).to_have_url(f"{server.http}/chat/team/members/")

        # A member who does not own it gets no link, loaded there or switched to.
        open_room(member, "team")
        expect(member.locator(".room-head a.manage-members")).to_have_count(0)
        room_link(member, "lobby").click()
        room_link(member, "team").click()
        expect(member.locator("#room-name")).to_have_text("Team")
        expect(member.locator(".room-head a.manage-members")).to_have_count(0)
        assert errors == []
    assert "Traceback" not in server.log(), server.log()
