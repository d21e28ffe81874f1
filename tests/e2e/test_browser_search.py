"""Real-browser search (#17): type a word in the search box, see the result with the word
highlighted, click it, land on the message in its room (not loaded before: read around
its seq) with messages on both sides, receive a live message there, and scroll down to
the present with no gap. Headless Chromium (Debian's) against one real daphne."""

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import in_thread, launch_chromium, log_in, open_room
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FILLER = 150  # messages after the one searched for: it is far outside the opening page
TARGET_SEQ = 10
SHOWN = "#messages"  # the list of the room shown (one in the document at a time)


def shown_seqs(page: Page) -> list[int]:
    seqs: list[int] = page.evaluate(
        f"[...document.querySelectorAll('{SHOWN} li.message[data-seq]')]"
        ".map((li) => Number(li.dataset.seq))"
    )
    return seqs


@pytest.mark.timeout(180)
def test_search_then_open_the_result_in_context_and_stay_live(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    ops = Room.objects.create(slug="ops", name="Ops")
    Room.objects.create(slug="design", name="Design")
    for slug in ("ops", "design"):
        services.room_join(user=bob, slug=slug)
    for n in range(1, TARGET_SEQ + FILLER + 1):
        body = "the zebra deploy plan <b>v2</b>" if n == TARGET_SEQ else f"filler {n}"
        services.message_post(room_id=ops.pk, author=bob, body=body, client_id=f"c{n}")
    last = TARGET_SEQ + FILLER

    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        open_room(page, "design")

        page.fill("#search-input", "zebra in:ops")
        page.press("#search-input", "Enter")
        hit = page.locator("#search-list .search-hit")
        expect(hit).to_have_count(1)
        expect(hit.locator(".hit-room")).to_have_text("Ops")
        expect(hit.locator(".hit-author")).to_have_text("bob")
        expect(hit.locator(".hit-text mark")).to_have_text("zebra")
        # The body's markup is text in the result, not markup.
        expect(hit.locator(".hit-text")).to_have_text("the zebra deploy plan <b>v2</b>")
        expect(hit.locator(".hit-text b")).to_have_count(0)

        hit.click()
        expect(page).to_have_url(f"{server.http}/chat/ops/")
        target = page.locator(f"{SHOWN} li.message[data-seq='{TARGET_SEQ}']")
        expect(target).to_be_visible()
        expect(target).to_have_class(re.compile(r"\brevealed\b"))
        seqs = shown_seqs(page)
        assert {TARGET_SEQ - 1, TARGET_SEQ + 1} <= set(seqs), seqs  # context on both sides
        assert last in seqs  # the live end is held too, below a hole
        assert not set(range(TARGET_SEQ + 30, last - 60)) <= set(seqs)  # not all read

        # A live message arrives in the room while the old one is shown.
        in_thread(
            lambda: services.message_post(
                room_id=ops.pk, author=bob, body="live after search", client_id=uuid.uuid4().hex
            )
        )
        live = f"{SHOWN} li.message[data-seq='{last + 1}']"
        expect(page.locator(live)).to_contain_text("live after search")

        # Scrolling down reads the hole forward: at the present, every seq is held once.
        for _ in range(60):
            page.locator(SHOWN).evaluate("(list) => { list.scrollTop += list.clientHeight; }")
            page.wait_for_timeout(100)
            seqs = shown_seqs(page)
            if set(range(TARGET_SEQ, last + 2)) <= set(seqs):
                break
        assert seqs == sorted(set(seqs)), "a seq shown twice or out of order"
        assert set(range(TARGET_SEQ, last + 2)) <= set(seqs), "a gap stayed"
        assert page.locator(f"{SHOWN} li.hole-below").count() == 0
        assert errors == []
