"""Real Chromium, rich messages (#16): a pasted link is clickable and opens in a new tab
(without an opener), a code block keeps its whitespace, a message's html never runs
script, the action bar's Reply and the reply bar send a reply, and a reply's quote jumps
to the original even when that one is pages back (history is loaded up to it). One real
daphne."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, Route, expect

from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import act, launch_chromium, log_in, open_room, send, wait_until
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAVED = "#messages li.message:not(.outbox)"
FILLERS = 130  # more than two opening pages (50 each): the original is not loaded at first
CODE = "```python\ndef f():\n    return  {'a':   1}\n```"


def in_view(page: Page, selector: str) -> bool:
    found: bool = page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector);
          const list = document.querySelector("#messages");
          if (!el || !list) return false;
          const a = el.getBoundingClientRect(), b = list.getBoundingClientRect();
          return a.bottom > b.top && a.top < b.bottom;
        }""",
        selector,
    )
    return found


@pytest.mark.timeout(180)
def test_links_code_and_replies_in_the_page(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    for user in (alice, bob):
        services.room_join(user=user, slug="design")
    original = services.message_post(
        room_id=room.pk, author=alice, body="The **plan** for Monday", client_id="plan"
    )
    for n in range(FILLERS):
        services.message_post(room_id=room.pk, author=alice, body=f"filler {n}", client_id=f"f{n}")
    services.message_post(
        room_id=room.pk, author=bob, body="agreed", client_id="re", reply_to=original["id"]
    )
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        writer = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        reader = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        opened: list[str] = []

        def outside(route: Route) -> None:  # the linked site, answered without a network
            opened.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<p>docs</p>")

        reader.context.route("https://docs.example.com/**", outside)
        open_room(writer, "design")
        open_room(reader, "design")

        # A pasted link: clickable, opens in a new tab, with no opener.
        writer.fill("#body", "")
        writer.focus("#body")
        writer.keyboard.insert_text("see https://docs.example.com/start?x=1 please")
        writer.keyboard.press("Enter")
        link = reader.locator(f"{SAVED} .body a[href='https://docs.example.com/start?x=1']")
        expect(link).to_have_attribute("target", "_blank")
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
        with reader.context.expect_page() as tab:
            link.click()
        new_tab = tab.value
        new_tab.wait_for_load_state()
        assert new_tab.url == "https://docs.example.com/start?x=1"
        assert new_tab.evaluate("window.opener === null")
        assert opened == ["https://docs.example.com/start?x=1"]
        new_tab.close()

        # A code block typed with Shift+Enter keeps its whitespace; markup stays text.
        writer.fill("#body", CODE)
        writer.keyboard.press("Enter")
        send(writer, "<img src=x onerror=alert(1)> *fine*")
        code = reader.locator(f"{SAVED} .body pre code.language-python")
        expect(code).to_have_count(1)
        assert code.inner_text() == "def f():\n    return  {'a':   1}\n"
        # whitespace kept; long lines wrap rather than scroll (chat.css)
        assert code.evaluate("el => getComputedStyle(el.parentElement).whiteSpace") == "pre-wrap"
        last = reader.locator(SAVED).last
        expect(last.locator(".body em")).to_have_text("fine")
        expect(last.locator(".body")).to_contain_text("<img src=x onerror=alert(1)>")
        assert last.locator(".body img").count() == 0

        # The author edits the source, not the rendering.
        own = writer.locator(SAVED).filter(has_text="return").last
        act(own, "edit")
        expect(own.locator("textarea.editor")).to_have_value(CODE)
        writer.keyboard.press("Escape")

        # The reply's quote jumps to the original, pages back (not loaded at first).
        first = f"{SAVED}[data-seq='{original['seq']}']"
        assert reader.locator(first).count() == 0
        quote = reader.locator(f"{SAVED} button.reply-quote[data-reply-id='{original['id']}']")
        expect(quote).to_contain_text("The **plan** for Monday")
        quote.click()
        expect(reader.locator(first)).to_have_count(1, timeout=15_000)
        expect(reader.locator(first)).to_have_class("message revealed", timeout=5_000)
        wait_until(reader, "!!document.querySelector('#messages li.revealed')")
        assert in_view(reader, first)
        expect(reader.locator(first).locator(".body strong")).to_have_text("plan")

        # Reply from the page: the bar shows what is answered, the send carries it.
        seq = writer.locator(SAVED).filter(has_text="filler 129").get_attribute("data-seq")
        target = writer.locator(f"{SAVED}[data-seq='{seq}']")
        act(target, "reply")
        expect(writer.locator("#reply-bar")).to_be_visible()
        expect(writer.locator("#reply-bar-excerpt")).to_have_text("filler 129")
        send(writer, "one more thing")
        expect(writer.locator("#reply-bar")).to_be_hidden()
        answer = reader.locator(SAVED).filter(has_text="one more thing")
        expect(answer.locator("button.reply-quote")).to_contain_text("filler 129")
        # Deleted later: the reader's quote says so, never the text.
        act(target, "delete")
        target.locator("button.confirm-delete").click()
        expect(answer.locator("button.reply-quote")).to_have_text("deleted message")
        assert not errors, errors
