"""Real Chromium, threads (#24), continued: a long thread paged back, the Threads list
loading more, links and search hits opening a reply, files and a pasted image in a
thread, and the panel's "Jump to latest". One real daphne."""

import base64
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from PIL import Image
from playwright.sync_api import expect

from chat import services
from chat.models import Room
from chat.services.posting import SendRequest, message_post_one
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in
from tests.e2e.threads import LIVE_MS, PANEL, REPLIES, ROOM_LIST, reply_in_panel, root_item, seed
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
