"""Real Chromium, threads (#24): a thread opened from its root beside the room, a reply
that stays out of the room's list and changes the reply count in another user's
browser, "Also send to #room", typing shown in the thread only, the sidebar's Threads
entry and view with its Unreads filter, Follow/Unfollow, a ?thread= link, back and
forward, Escape, the phone width (the panel covers the room, Back returns), files and a
pasted image in a thread, and the panel's "Jump to latest". One real daphne."""

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from chat import services
from chat.models import Room
from chat.services.posting import SendRequest, message_post_one
from tests.conftest import TEST_PASSWORD, session_cookie
from tests.e2e.browser import TIMEOUT_MS, act, launch_chromium, log_in, open_room, send
from tests.e2e.test_browser_layout import AXE, AXE_RUN_JS, OVERFLOWING_JS, SCREENSHOTS, WIDTHS
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_MS = 5_000  # a change reaches another browser within this
ROOM_LIST = "#messages li.message:not(.outbox)"
PANEL = "#thread-panel"
REPLIES = "#thread-messages li.message:not(.thread-root):not(.outbox)"


def seed(make_user: Callable[..., User]) -> dict[str, int]:
    """alice and bob in Design; alice's root with no reply yet, and bob's older thread
    (one reply by carol) that alice follows because carol named her."""
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    carol = make_user("carol", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    for user in (alice, bob, carol):
        services.room_join(user=user, slug="design")
    old = services.message_post(room_id=room.pk, author=bob, body="Old question", client_id="s1")
    message_post_one(
        SendRequest(
            room_id=room.pk,
            author=carol,
            body="@alice knows this one",
            client_id="s2",
            thread=old["id"],
        )
    )
    root = services.message_post(
        room_id=room.pk, author=alice, body="Release plan for Friday?", client_id="s3"
    )
    return {"root": root["id"], "old": old["id"]}


def root_item(page: Page, root: int) -> Locator:
    return page.locator(f'#messages li.message[data-id="{root}"]')


def reply_in_panel(page: Page, body: str, *, also: bool = False) -> None:
    page.fill("#thread-body", body)
    if also:
        page.check("#thread-also")
    page.press("#thread-body", "Enter")
    expect(page.locator("#thread-body")).to_have_value("")


def threads_entry(page: Page) -> Locator:
    return page.locator("#threads-open")


def thread_count(page: Page) -> Locator:
    return page.locator("#threads-open #threads-count")


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


@pytest.mark.timeout(180)
def test_a_long_thread_pages_back_and_the_threads_list_loads_more(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    """60 replies (the panel reads 50, then the rest when scrolled to the top) and 22
    followed threads (20 listed, then "Load more")."""
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    for user in (alice, bob):
        services.room_join(user=user, slug="design")
    roots = [
        services.message_post(room_id=room.pk, author=alice, body=f"topic {n}", client_id=f"r{n}")
        for n in range(22)
    ]
    for n, root in enumerate(roots):
        for k in range(60 if n == 0 else 1):
            saved = message_post_one(
                SendRequest(
                    room_id=room.pk,
                    author=bob,
                    body=f"reply {k} to topic {n}",
                    client_id=f"t{n}-{k}",
                    thread=root["id"],
                )
            )
            if n == 0 and k == 3:
                early = saved["seq"]
            if n == 0 and k == 7:
                found = saved["seq"]
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        page.set_viewport_size({"width": 1366, "height": 820})
        page.goto(f"/chat/design/?thread={roots[0]['id']}")
        expect(page.locator(PANEL)).to_have_attribute("data-loaded", "true")
        replies = page.locator(REPLIES)
        expect(replies).to_have_count(50)
        expect(replies.last).to_contain_text("reply 59 to topic 0")
        page.locator("#thread-messages").evaluate("list => { list.scrollTop = 0; }")
        expect(replies).to_have_count(60)
        expect(replies.first).to_contain_text("reply 0 to topic 0")
        expect(page.locator(f"{PANEL} li.thread-root")).to_contain_text("topic 0")
        # No reply leaked into the room's list.
        expect(
            page.locator(ROOM_LIST).filter(has_text=re.compile(r"reply \d+ to topic"))
        ).to_have_count(0)

        # A reply's link (Copy link in the panel) opens the thread at that reply.
        page.goto(f"/chat/design/?thread={roots[0]['id']}&seq={early}")
        expect(page.locator(PANEL)).to_have_attribute("data-loaded", "true")
        shown = page.locator(f'#thread-messages li.message[data-seq="{early}"]')
        expect(shown).to_contain_text("reply 3 to topic 0")
        expect(shown).to_be_in_viewport()
        # A search hit in a thread says so, and opens the thread's panel at it.
        page.locator("#thread-close").click()
        page.fill("#search-input", '"reply 7 to topic 0"')
        page.press("#search-input", "Enter")
        hit = page.locator("#search-list .search-hit")
        expect(hit).to_have_count(1)
        expect(hit.locator(".hit-thread")).to_have_text("in a thread")
        hit.click()
        expect(page.locator(PANEL)).to_have_attribute("data-loaded", "true")
        shown = page.locator(f'#thread-messages li.message[data-seq="{found}"]')
        expect(shown).to_contain_text("reply 7 to topic 0")
        expect(shown).to_be_in_viewport()

        page.click("#threads-open")
        items = page.locator("#threads-view li.thread-item")
        expect(items).to_have_count(20)
        more = page.locator("#threads-more")
        expect(more).to_be_visible()
        more.click()
        expect(items).to_have_count(22)
        expect(more).to_be_hidden()
        assert errors == []


# A file pasted into the thread's composer (as test_browser_images.py pastes into the room's).
PASTE_IN_THREAD = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], "mock.png", { type: "image/png" }));
  const init = { clipboardData: data, bubbles: true, cancelable: true };
  const event = new ClipboardEvent("paste", init);
  document.getElementById("thread-body").dispatchEvent(event);
  return event.defaultPrevented;
}"""

# A file dropped on the panel's list: [the panel outlined and not the room, taken].
DROP_ON_THREAD = """() => {
  const data = new DataTransfer();
  data.items.add(new File(["dropped"], "dropped.txt", { type: "text/plain" }));
  const list = document.getElementById("thread-messages");
  const init = { dataTransfer: data, bubbles: true, cancelable: true };
  list.dispatchEvent(new DragEvent("dragover", init));
  const outlined = document.getElementById("thread-panel").classList.contains("dropping")
    && !document.getElementById("room").classList.contains("dropping");
  const drop = new DragEvent("drop", init);
  list.dispatchEvent(drop);
  return [outlined, drop.defaultPrevented];
}"""


@pytest.mark.timeout(180)
def test_files_and_images_in_a_thread_and_jump_to_latest_in_the_panel(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
    tmp_path: Path,
) -> None:
    """Attach a file, paste an image and drop a file in the panel: each in the thread
    in both browsers, the files not in the room's list (the image went "also to the
    room"); then with bob's panel scrolled up, a new reply brings "Jump to latest",
    which goes there."""
    ids = seed(make_user)
    root = ids["root"]
    room = Room.objects.get(slug="design")
    carol = User.objects.get(username="carol")
    for n in range(30):  # enough to scroll the panel
        message_post_one(
            SendRequest(
                room_id=room.pk, author=carol, body=f"note {n}", client_id=f"n{n}", thread=root
            )
        )
    (tmp_path / "minutes.pdf").write_bytes(b"%PDF-1.4 minutes")
    image = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(image, format="PNG")
    env = {**server_env, "DJANGO_MEDIA_ROOT": str(log_dir / "media")}
    with daphnes(env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        alice = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        bob = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        for page in (alice, bob):
            page.set_viewport_size({"width": 1366, "height": 820})
            page.goto(f"/chat/design/?thread={root}")
            expect(page.locator(PANEL)).to_have_attribute("data-loaded", "true")
            expect(page.locator(REPLIES)).to_have_count(30)

        # Attach in the panel: a reply with the file, in both panels, not in the rooms.
        alice.set_input_files("#thread-file-input", str(tmp_path / "minutes.pdf"))
        for page in (alice, bob):
            link = page.locator(f"{REPLIES} a.attachment.file")
            expect(link.locator(".file-name")).to_have_text("minutes.pdf", timeout=LIVE_MS)
            expect(page.locator(f"{ROOM_LIST} a.attachment")).to_have_count(0)
        expect(alice.locator("#thread-messages li.upload")).to_have_count(0)
        # A pasted image with "Also send to #room": a thumbnail in both panels and, this
        # time, in the room's list too (the paste is the thread's, not the room's).
        alice.check("#thread-also")
        assert alice.evaluate(PASTE_IN_THREAD, base64.b64encode(image.getvalue()).decode())
        for page in (alice, bob):
            thumb = page.locator(f"{REPLIES} a.attachment img.thumb")
            expect(thumb).to_be_visible(timeout=LIVE_MS)
            in_room = page.locator(ROOM_LIST).filter(has=page.locator("img.thumb"))
            expect(in_room.locator(".thread-mark")).to_be_visible()
            expect(root_item(page, root).locator(".thread-count")).to_have_text("32 replies")
        expect(alice.locator("#thread-also")).not_to_be_checked()
        # A file dropped on the panel: the thread's (the room is not outlined, nor takes it).
        assert alice.evaluate(DROP_ON_THREAD) == [True, True]
        dropped = bob.locator(f"{REPLIES} a.attachment.file .file-name").last
        expect(dropped).to_have_text("dropped.txt", timeout=LIVE_MS)
        expect(bob.locator(f"{ROOM_LIST} a.attachment.file")).to_have_count(0)

        # Bob scrolls his panel up; a new reply arrives below: "Jump to latest" with 1.
        jump = bob.locator("#thread-jump-latest")
        expect(jump).to_be_hidden()
        bob.locator("#thread-messages").evaluate("list => { list.scrollTop = 0; }")
        expect(jump).to_be_visible()
        reply_in_panel(alice, "one more thing")
        expect(jump.locator(".jump-count")).to_have_text("1", timeout=LIVE_MS)
        expect(bob.locator("#jump-latest")).to_be_hidden()  # the room's stays out of it
        jump.click()
        expect(bob.locator(REPLIES).last).to_contain_text("one more thing")
        expect(bob.locator(REPLIES).last).to_be_in_viewport()
        expect(jump).to_be_hidden()
        assert errors == []
