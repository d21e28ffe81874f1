"""Real Chromium, the message list (#23): consecutive messages grouped under one name,
day separators, the full time on focus, the action bar reached and used with the
keyboard only (react, reply, copy link), "Jump to latest" with its count, and a room
scrolled back through 5,000 messages keeping a bounded DOM (frame times printed), with
switching back to a loaded room measured. One real daphne."""

import re
import statistics
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from chat import services
from chat.models import Message, Room, Sanction
from chat.services.posting import SendRequest, message_post_many
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import in_thread, launch_chromium, log_in, open_room, send, wait_until
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAVED = "#messages li.message:not(.outbox)"
BIG = 5000
SEED_BATCH = 500
DOM_BOUND = 400  # paging.js keeps at most 300 saved messages, plus a page in flight


# Every message whose grouping or day separator disagrees with its neighbour above it,
# recomputed from scratch (the page only ever updates the changed ones).
GROUPING_ERRORS_JS = """list => {
  const day = (t) => new Date(t).toDateString();
  const wrong = [];
  let prev = null;
  for (const li of list.querySelectorAll(':scope > li.message')) {
    const t = Number(li.dataset.time);
    const newDay = !prev || day(Number(prev.dataset.time)) !== day(t);
    const dt = prev ? t - Number(prev.dataset.time) : -1;
    const follow = !!prev && !newDay && !li.classList.contains('system')
      && !prev.classList.contains('system') && prev.dataset.author === li.dataset.author
      && dt >= 0 && dt <= 300000;
    if (li.classList.contains('follow') !== follow
        || !!li.querySelector(':scope > .day-separator') !== newDay) {
      wrong.push(li.dataset.seq || li.dataset.clientId);
    }
    prev = li;
  }
  return wrong;
}"""


def grouping_errors(page: Page) -> list[str]:
    wrong: list[str] = page.locator("#messages").evaluate(GROUPING_ERRORS_JS)
    return wrong


def seqs_shown(page: Page) -> list[int]:
    seqs: list[int] = page.locator(SAVED).evaluate_all(
        "items => items.map(li => Number(li.dataset.seq))"
    )
    return seqs


@pytest.mark.timeout(180)
def test_groups_days_and_the_action_bar_by_keyboard(
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
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    seeded = [  # (author, body, when): two groups yesterday, then two today
        (alice, "yesterday one", yesterday),
        (alice, "yesterday two", yesterday + timedelta(minutes=2)),
        (alice, "yesterday later", yesterday + timedelta(minutes=20)),
        (bob, "today from bob", now - timedelta(minutes=3)),
        (bob, "bob again", now - timedelta(minutes=2)),
        (alice, "today from alice", now - timedelta(minutes=1)),
    ]
    for n, (author, body, when) in enumerate(seeded):
        out = services.message_post(room_id=room.pk, author=author, body=body, client_id=f"s{n}")
        Message.objects.filter(pk=out["id"]).update(created_at=when)
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        open_room(page, "design")
        saved = page.locator(SAVED)
        expect(saved).to_have_count(len(seeded))

        # Grouped: a follow-up hides avatar and name (5 minutes, same author, same day).
        follows = saved.evaluate_all("items => items.map(li => li.classList.contains('follow'))")
        assert follows == [False, True, False, False, True, False]
        expect(page.locator("#messages .day-separator")).to_have_text(["Yesterday", "Today"])
        person = re.compile(r"^(alice|bob)$")
        for item in saved.all():
            expect(item.locator(".author")).to_have_attribute("data-profile", person)
        # Every name and avatar is a profile button (the people part opens the card).
        people = page.locator("#messages [data-profile]")
        assert people.evaluate_all("els => els.every(el => el.tagName === 'BUTTON')")
        # The time: short in the list, the full date and time in its title.
        time = saved.first.locator("time")
        assert time.get_attribute("datetime")
        full = time.get_attribute("title") or ""
        assert len(full) > len(time.inner_text()), (full, time.inner_text())
        # No permanent controls: the bar is hidden until hover or focus.
        expect(saved.first.locator(":scope > .actions")).to_be_hidden()

        # Keyboard only: the list, the arrows to a message (its time reads in full),
        # Tab into its bar, React, pick.
        page.locator("#messages").focus()
        # One Tab stop: Tab from the list goes on past it (to the online list's people,
        # then the composer), not through the messages' names and buttons; Shift+Tab
        # comes back.
        page.keyboard.press("Tab")
        assert page.evaluate(
            "() => document.activeElement !== document.body"
            " && !document.getElementById('messages').contains(document.activeElement)"
        ), page.evaluate("() => document.activeElement.outerHTML.slice(0, 200)")
        page.keyboard.press("Shift+Tab")
        expect(page.locator("#messages")).to_be_focused()
        page.keyboard.press("ArrowUp")  # the newest message in view
        page.keyboard.press("ArrowUp")
        seq = saved.filter(has_text="bob again").get_attribute("data-seq")
        target = page.locator(f"{SAVED}[data-seq='{seq}']")
        expect(target).to_be_focused()
        expect(target.locator("time")).to_have_text(
            target.locator("time").get_attribute("title") or "?"
        )
        expect(target.locator(":scope > .actions")).to_be_visible()
        page.keyboard.press("Tab")
        expect(target.locator("button.react-message")).to_be_focused()
        page.keyboard.press("Enter")
        picker = page.locator("#emoji-picker")
        expect(picker.locator(".emoji-search")).to_be_focused()
        pick = picker.locator("[role=option]").first
        expect(pick).to_be_visible()
        emoji = pick.get_attribute("data-emoji")
        page.keyboard.press("Enter")
        chip = target.locator(":scope > .reactions button.reaction")
        expect(chip).to_have_text(f"{emoji} 1")
        expect(chip).to_have_attribute("aria-pressed", "true")
        expect(target.locator("button.react-message")).to_be_focused()  # focus kept

        # Escape back to the message, Tab to Reply, write the answer.
        page.keyboard.press("Escape")
        expect(target).to_be_focused()
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        expect(target.locator("button.reply")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#reply-bar")).to_be_visible()
        expect(page.locator("#body")).to_be_focused()
        page.keyboard.type("answered by keyboard")
        page.keyboard.press("Enter")
        answer = saved.filter(has_text="answered by keyboard")
        expect(answer.locator("button.reply-quote")).to_contain_text("bob again")
        assert grouping_errors(page) == []

        # Copy link: the message's link, the form notifications use (?seq=). (Bob's
        # own message: React, Reply, Edit, Delete, Copy link.)
        target.focus()
        for _ in range(5):
            page.keyboard.press("Tab")
        copy = target.locator("button.copy-link")
        expect(copy).to_be_focused()
        page.keyboard.press("Enter")
        expect(copy).to_have_attribute("aria-label", "Link copied")
        assert page.evaluate("navigator.clipboard.readText()") == (
            f"{server.http}/chat/design/?seq={seq}"
        )
        page.screenshot(path=str(log_dir / "msglist-keyboard.png"))
        assert not errors, errors


def seed_big(room: Room, authors: list[User]) -> None:
    """5,000 messages through the project's batch write path, in runs of three per
    author (so the list groups)."""
    for start in range(0, BIG, SEED_BATCH):
        outcomes = message_post_many(
            [
                SendRequest(
                    room_id=room.pk,
                    author=authors[(n // 3) % len(authors)],
                    body=f"message {n + 1} with some **text** to wrap a little",
                    client_id=f"big{n}",
                )
                for n in range(start, start + SEED_BATCH)
            ]
        )
        assert all(isinstance(o, dict) for o in outcomes)


COLLECT_FRAMES = """() => {
  window.frameDeltas = [];
  let last = performance.now();
  const tick = (t) => {
    window.frameDeltas.push(t - last);
    last = t;
    if (window.collectFrames) requestAnimationFrame(tick);
  };
  window.collectFrames = true;
  requestAnimationFrame(tick);
}"""


@pytest.mark.timeout(600)
def test_5000_messages_scrolled_back_keep_a_bounded_dom_and_switching_back_is_fast(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    big = Room.objects.create(slug="big", name="Big")
    small = Room.objects.create(slug="small", name="Small")
    for user in (alice, bob):
        services.room_join(user=user, slug="big")
        services.room_join(user=user, slug="small")
    seed_big(big, [alice, bob])
    services.message_post(room_id=small.pk, author=alice, body="hello small", client_id="s")
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "bob", errors)
        open_room(page, "big")
        expect(page.locator(SAVED).last).to_have_attribute("data-seq", str(BIG))
        page.evaluate(COLLECT_FRAMES)

        # Back to the first message, a page at a time: the DOM stays bounded.
        most = 0
        lowest = BIG
        for _ in range(BIG // 25):
            top, count = page.locator("#messages").evaluate(
                """list => {
                    list.scrollTop = 0;
                    const items = list.querySelectorAll(':scope > li.message[data-seq]');
                    return [Number(items[0].dataset.seq), items.length];
                }"""
            )
            most = max(most, count)
            lowest = min(lowest, top)
            if top == 1:
                break
            wait_until(
                page,
                f"Number(document.querySelector('#messages > li.message[data-seq]')"
                f".dataset.seq) < {top}",
            )
        assert lowest == 1, f"never reached the first message (lowest {lowest})"
        assert grouping_errors(page) == []
        assert most < DOM_BOUND, f"{most} message nodes held"
        all_nodes = page.evaluate("document.querySelectorAll('#messages *').length")
        print(f"scrolled back through {BIG}: at most {most} messages, {all_nodes} nodes now")

        # A search result among the released newest: the list starts again around it
        # (no hole shown), scrolling down reads on from there, Jump to latest ends it.
        page.fill("#search-input", "4000")
        page.keyboard.press("Enter")
        page.locator("#search-list .search-hit").first.click()
        expect(page.locator(f"{SAVED}[data-seq='4000']")).to_have_count(1)
        wait_until(page, "!!document.querySelector('#messages li.revealed')")
        page.locator("#search-close").click()
        shown = seqs_shown(page)
        assert shown == list(range(shown[0], shown[-1] + 1)), "a hole in what is shown"
        assert shown[-1] < BIG
        expect(page.locator("#jump-latest")).to_be_visible()
        bottom = shown[-1]
        page.locator("#messages").evaluate("list => { list.scrollTop = list.scrollHeight; }")
        wait_until(
            page,
            "Math.max(...[...document.querySelectorAll('#messages > li[data-seq]')]"
            f".map(li => Number(li.dataset.seq))) > {bottom}",
        )
        shown = seqs_shown(page)
        assert shown == list(range(shown[0], shown[-1] + 1)), "a hole in what is shown"
        assert grouping_errors(page) == []
        page.locator("#jump-latest").click()
        expect(page.locator(SAVED).last).to_have_attribute("data-seq", str(BIG))
        assert len(seqs_shown(page)) < DOM_BOUND

        # Back up until the newest are released, then down: they come back from history.
        for _ in range(20):
            if seqs_shown(page)[-1] < BIG:
                break
            top = seqs_shown(page)[0]
            page.locator("#messages").evaluate("list => { list.scrollTop = 0; }")
            wait_until(
                page,
                f"Number(document.querySelector('#messages > li.message[data-seq]')"
                f".dataset.seq) < {top}",
            )
        shown = seqs_shown(page)
        assert shown[-1] < BIG
        assert len(shown) < DOM_BOUND
        expect(page.locator("#jump-latest")).to_be_visible()
        for _ in range(3):
            bottom = seqs_shown(page)[-1]
            page.locator("#messages").evaluate("list => { list.scrollTop = list.scrollHeight; }")
            wait_until(
                page,
                "Math.max(...[...document.querySelectorAll('#messages > li[data-seq]')]"
                f".map(li => Number(li.dataset.seq))) > {bottom}",
            )
        shown = seqs_shown(page)
        assert shown == list(range(shown[0], shown[-1] + 1)), "a hole in what is shown"
        assert grouping_errors(page) == []
        assert len(shown) < DOM_BOUND

        # Jump to latest: the newest page again, at the bottom, the button gone.
        page.locator("#jump-latest").click()
        expect(page.locator(SAVED).last).to_have_attribute("data-seq", str(BIG))
        expect(page.locator("#jump-latest")).to_be_hidden()
        assert len(seqs_shown(page)) < DOM_BOUND

        page.evaluate("window.collectFrames = false")
        deltas: list[float] = page.evaluate("window.frameDeltas")
        ordered = sorted(deltas)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        print(
            f"frames while scrolling back and forth: {len(deltas)}, median "
            f"{statistics.median(deltas):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"
        )
        assert ordered[-1] < 1000, f"a frame took {ordered[-1]:.0f} ms"

        # Switching to a room already loaded: measured from the click to the next frame.
        page.locator('#sidebar a.room-link[data-slug="small"]').click()
        expect(page.locator("#room")).to_have_attribute("data-loaded", "true")
        expect(page.locator(SAVED)).to_have_count(1)
        took: list[float] = []
        for slug in ["big", "small"] * 3:
            took.append(
                page.evaluate(
                    """async (slug) => {
                        const link = document.querySelector(
                          `#sidebar a.room-link[data-slug="${slug}"]`);
                        const start = performance.now();
                        link.click();
                        await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
                        return performance.now() - start;
                    }""",
                    slug,
                )
            )
            expect(page.locator("#room-name")).to_have_text(slug.capitalize())
        print("switching to a loaded room (ms): " + ", ".join(f"{t:.1f}" for t in took))
        assert statistics.median(took) < 100, took
        page.screenshot(path=str(log_dir / "msglist-big.png"))
        assert not errors, errors


@pytest.mark.timeout(180)
def test_jump_to_latest_counts_newer_messages(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    services.room_join(user=alice, slug="design")
    for n in range(60):
        services.message_post(room_id=room.pk, author=alice, body=f"filler {n}", client_id=f"{n}")
    services.room_join(user=bob, slug="design")  # all read: he opens at the newest
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        reader = log_in(browser, server.http, "bob", errors)
        writer = log_in(browser, server.http, "alice", errors)
        open_room(reader, "design")
        open_room(writer, "design")
        expect(reader.locator("#jump-latest")).to_be_hidden()
        reader.locator("#messages").evaluate("list => { list.scrollTop = 0; }")
        expect(reader.locator("#jump-latest")).to_be_visible()
        for n in range(3):
            send(writer, f"new {n}")
        expect(reader.locator(SAVED).last).to_contain_text("new 2")
        button = reader.locator("#jump-latest")
        expect(button).to_have_attribute("aria-label", "Jump to latest: 3 new messages")
        expect(button.locator(".jump-count")).to_have_text("3")
        button.click()
        expect(button).to_be_hidden()
        assert reader.locator("#messages").evaluate(
            "list => list.scrollHeight - list.scrollTop - list.clientHeight < 40"
        )
        # The newest, now in view, are read: the room has nothing unread.
        wait_until(reader, "!document.querySelector('#sidebar li.unread')")
        assert not errors, errors


@pytest.mark.timeout(180)
def test_a_refused_message_shows_failed_on_itself_and_retry_sends_it(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    services.room_join(user=alice, slug="design")
    mute = Sanction.objects.create(kind=Sanction.Kind.MUTE, user=alice, room=room, reason="wait")
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        open_room(page, "design")
        send(page, "first try")
        failed = page.locator("#messages li.failed")
        expect(failed.locator(".state")).to_have_text("not sent")
        expect(failed.locator(".why")).to_contain_text("muted")
        expect(failed.locator(".body")).to_have_text("first try")
        send(page, "to dismiss")
        expect(failed).to_have_count(2)
        failed.filter(has_text="to dismiss").locator("button.dismiss").click()
        expect(failed).to_have_count(1)
        assert grouping_errors(page) == []
        page.screenshot(path=str(log_dir / "msglist-failed.png"))

        in_thread(mute.delete)
        failed.locator("button.retry").click()
        saved = page.locator(SAVED)
        expect(saved).to_have_count(1)
        expect(saved.locator(".body")).to_have_text("first try")
        expect(page.locator("#messages li.failed, #messages li.pending")).to_have_count(0)
        assert grouping_errors(page) == []
        assert not errors, errors


@pytest.mark.timeout(180)
def test_on_a_touch_screen_the_ellipsis_opens_the_action_bar(
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
    services.message_post(room_id=room.pk, author=alice, body="tap me", client_id="t")
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        context = browser.new_context(
            base_url=server.http,
            viewport={"width": 390, "height": 844},
            has_touch=True,
            is_mobile=True,
        )
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/accounts/login/")
        page.fill("input[name=username]", "bob")
        page.fill("input[name=password]", TEST_PASSWORD)
        with page.expect_navigation():
            page.click("form.stack button[type=submit]")
        open_room(page, "design")
        assert page.evaluate("matchMedia('(hover: none)').matches")
        item = page.locator(SAVED).filter(has_text="tap me")
        more = item.locator("button.more-actions")
        expect(more).to_be_visible()
        expect(item.locator(":scope > .actions")).to_be_hidden()
        more.tap()
        expect(more).to_have_attribute("aria-expanded", "true")
        expect(item.locator(":scope > .actions")).to_be_visible()
        item.locator("button.reply").tap()
        expect(page.locator("#reply-bar")).to_be_visible()
        expect(page.locator("#reply-bar-excerpt")).to_have_text("tap me")
        page.screenshot(path=str(log_dir / "msglist-touch.png"))
        context.close()
        assert not errors, errors
