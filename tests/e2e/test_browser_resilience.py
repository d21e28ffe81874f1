"""Real-browser resilience: the room page against real daphne processes that are stopped
(SIGTERM: every socket closes with 1012) and started again on the same port. The pages
must reconnect and resume by themselves, keep what was typed meanwhile in their outbox
(across a reload too), deliver it exactly once, page back through history on scroll
and through a resume gap, and turn a refused message into a failed one."""

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, WebSocket, WebSocketRoute, expect

from chat import services
from chat.models import Message, Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import TIMEOUT_MS, in_thread, launch_chromium, log_in, open_room, send
from tests.servers import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESYNC_SECONDS = 15  # a restarted server to every page showing the same list again
DOWN = re.compile(r"^(reconnecting|offline)$")
SAVED = "#messages li.message:not(.outbox)"

# Every <li> of #messages as (seq or None, author, body, "saved" | "pending" | "failed").
RENDERED_JS = """items => items.map(li => [
    li.dataset.seq ? Number(li.dataset.seq) : null,
    li.querySelector('.author').textContent,
    li.querySelector('.body').textContent,
    li.classList.contains('pending') ? 'pending' : li.classList.contains('failed') ? 'failed'
        : 'saved',
])"""

Item = tuple[int | None, str, str, str]


def rendered(page: Page) -> list[Item]:
    items = page.locator("#messages li.message").evaluate_all(RENDERED_JS)
    return [tuple(item) for item in items]


def wait_for_list(page: Page, expected: list[Item], seconds: float = TIMEOUT_MS / 1000) -> None:
    deadline = time.monotonic() + seconds
    while (got := rendered(page)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url} shows\n{got!r}\nnot\n{expected!r}")
        page.wait_for_timeout(100)


def outbox(page: Page, slug: str, username: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = page.evaluate(
        "key => JSON.parse(localStorage.getItem(key) || '[]')",
        f"chat:outbox:v1:{slug}:{username}",
    )
    return entries


def seqs_shown(page: Page) -> list[int]:
    seqs: list[int] = page.locator(SAVED).evaluate_all(
        "items => items.map(li => Number(li.dataset.seq))"
    )
    return seqs


def post(room: Room, author: User, body: str) -> None:
    services.message_post(room_id=room.pk, author=author, body=body, client_id=str(uuid.uuid4()))


def expect_down(page: Page) -> None:
    expect(page.locator("#status")).to_have_attribute("data-state", DOWN)


@pytest.mark.timeout(120)
def test_pages_resume_and_flush_their_outbox_after_a_server_restart(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    servers = [start_daphne(server_env, log_dir, "a")]
    try:
        with launch_chromium(chromium_path) as browser:
            page_errors: list[str] = []
            alice = log_in(browser, servers[0].http, "alice", page_errors)
            bob = log_in(browser, servers[0].http, "bob", page_errors)
            open_room(alice, "lobby")
            open_room(bob, "lobby")
            before: list[Item] = [(1, "alice", "hello bob", "saved")]
            send(alice, "hello bob")
            wait_for_list(bob, before)
            before.append((2, "bob", "hi alice", "saved"))
            send(bob, "hi alice")
            for page in (alice, bob):
                wait_for_list(page, before)

            # The browser going offline shows at once; coming back online reconnects now.
            bob.context.set_offline(True)
            expect(bob.locator("#status")).to_have_attribute("data-state", "offline")
            expect(bob.locator("#status")).to_have_text("offline")
            bob.context.set_offline(False)
            expect(bob.locator("#status")).to_have_attribute("data-state", "connected")
            wait_for_list(bob, before)

            servers[0].stop()  # SIGTERM: graceful, every socket gets 1012
            expect_down(alice)
            expect_down(bob)
            send(alice, "typed while down 1")
            send(alice, "typed while down 2")
            pending: list[Item] = [
                (None, "alice", "typed while down 1", "pending"),
                (None, "alice", "typed while down 2", "pending"),
            ]
            wait_for_list(alice, before + pending)
            expect(alice.locator("#messages li.pending .state")).to_have_text(["sending…"] * 2)
            stored = outbox(alice, "lobby", "alice")
            assert [entry["body"] for entry in stored] == [
                "typed while down 1",
                "typed while down 2",
            ]
            assert len({entry["client_id"] for entry in stored}) == 2
            alice.screenshot(path=str(log_dir / "alice-pending.png"))
            expect_down(bob)
            assert rendered(bob) == before  # nothing of alice's is shown before it is saved

            servers.append(start_daphne(server_env, log_dir, "b", port=servers[0].port))
            restarted = time.monotonic()
            after = [
                *before,
                (3, "alice", "typed while down 1", "saved"),
                (4, "alice", "typed while down 2", "saved"),
            ]
            for page in (alice, bob):
                wait_for_list(page, after, RESYNC_SECONDS - (time.monotonic() - restarted))
                expect(page.locator("#status")).to_have_attribute("data-state", "connected")
            print(f"both pages resynced {time.monotonic() - restarted:.2f}s after the restart")
            assert outbox(alice, "lobby", "alice") == []
            assert outbox(bob, "lobby", "bob") == []
            assert not alice.locator("#error").is_visible()
            assert page_errors == []
            alice.screenshot(path=str(log_dir / "alice-after.png"))
    finally:
        for server in servers:
            server.stop()
    saved = Message.objects.filter(room__slug="lobby").order_by("seq")
    assert [(m.seq, m.author and m.author.username, m.body) for m in saved] == [
        (seq, author, body) for seq, author, body, _ in after
    ]
    for server in servers:
        assert "Traceback" not in server.log(), server.log()


@pytest.mark.timeout(120)
def test_a_long_outbox_goes_out_in_order_at_the_rate_limit_without_a_flood_close(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    # Tight limits: sent all at once, the outbox would be refused past the fifth message
    # and the sixth refusal would close the socket with 4429.
    env = {
        **server_env,
        "CHAT_MESSAGE_BURST": "5",
        "CHAT_MESSAGE_RATE_PER_SECOND": "10",
        "CHAT_FLOOD_MAX_REJECTED": "5",
    }
    bodies = [f"queued {n}" for n in range(1, 31)]
    servers = [start_daphne(env, log_dir, "a")]
    try:
        with launch_chromium(chromium_path) as browser:
            page_errors: list[str] = []
            alice = log_in(browser, servers[0].http, "alice", page_errors)
            hellos: list[str] = []  # the URL of every connection that got its hello
            refusals: list[str] = []

            def watch(ws: WebSocket) -> None:
                def received(payload: str | bytes) -> None:
                    frame = json.loads(payload)
                    if frame["type"] == "hello":
                        hellos.append(ws.url)
                    elif frame["type"] == "error":
                        refusals.append(frame["code"])

                ws.on("framereceived", received)

            alice.on("websocket", watch)
            open_room(alice, "lobby")
            servers[0].stop()
            expect_down(alice)
            for body in bodies:
                send(alice, body)
            assert [entry["body"] for entry in outbox(alice, "lobby", "alice")] == bodies

            servers.append(start_daphne(env, log_dir, "b", port=servers[0].port))
            expected: list[Item] = [(n, "alice", body, "saved") for n, body in enumerate(bodies, 1)]
            wait_for_list(alice, expected, seconds=60)
            assert outbox(alice, "lobby", "alice") == []
            assert len(hellos) == 2, f"never closed for flooding: {hellos}"
            assert set(refusals) <= {"rate_limited"}, refusals
            assert len(refusals) <= 5, refusals  # spaced out, not resent while refused
            assert page_errors == []
    finally:
        for server in servers:
            server.stop()
    saved = Message.objects.filter(room__slug="lobby").order_by("seq")
    assert [m.body for m in saved] == bodies, "saved once each, in the order typed"


@pytest.mark.timeout(120)
def test_scrollback_gap_fill_refused_send_and_a_pending_message_across_a_reload(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    room = Room.objects.create(slug="archive", name="Archive")
    for n in range(1, 121):
        post(room, alice, f"old message {n}")
    # Small limits: a 41-character message is refused, and a resume past 5 missed
    # messages is incomplete (the page pages back the rest).
    env = {**server_env, "CHAT_MAX_BODY_CHARS": "40", "CHAT_RESUME_LIMIT": "5"}
    servers = [start_daphne(env, log_dir, "a")]
    try:
        with launch_chromium(chromium_path) as browser:
            page_errors: list[str] = []
            page = log_in(browser, servers[0].http, "alice", page_errors)
            socket_urls: list[str] = []
            sent: list[Any] = []

            def watch(ws: WebSocket) -> None:
                socket_urls.append(ws.url)
                ws.on("framesent", lambda payload: sent.append(json.loads(payload)))

            page.on("websocket", watch)
            open_room(page, "archive")
            saved = page.locator(SAVED)
            expect(saved).to_have_count(50)  # opening the room reads the newest 50
            expect(saved.first).to_have_attribute("data-seq", "71")

            # Scroll to the top until the room's first message is shown; each page of
            # older messages goes above the one in view without moving it (its text: the
            # day separator above it goes once the same day continues above).
            for _ in range(5):
                if page.locator('#messages li[data-seq="1"]').count():
                    break
                count = saved.count()
                top_seq, offset = page.locator("#messages").evaluate(
                    """list => {
                        list.scrollTop = 0;
                        const top = list.querySelector('li[data-seq]');
                        return [Number(top.dataset.seq),
                                top.querySelector('.body').getBoundingClientRect().top
                                - list.getBoundingClientRect().top];
                    }"""
                )
                expect(saved).not_to_have_count(count)
                moved = page.locator(f'#messages li[data-seq="{top_seq}"] > .body').evaluate(
                    "body => body.getBoundingClientRect().top"
                    " - body.closest('ol').getBoundingClientRect().top"
                )
                assert abs(moved - offset) < 2, f"view jumped: {offset} -> {moved}"
            assert seqs_shown(page) == list(range(1, 121))
            assert {"type": "history.fetch", "room": "archive", "before": 21, "limit": 50} in sent

            # A refused send (too long) is matched to its pending entry and marked failed.
            page.locator("#body").evaluate("input => input.removeAttribute('maxlength')")
            send(page, "x" * 41)
            expect(page.locator("#messages li.failed .state")).to_have_text("not sent")
            expect(page.locator("#error")).to_have_text("A message can have at most 40 characters.")
            assert outbox(page, "archive", "alice") == []
            page.screenshot(path=str(log_dir / "failed.png"))
            send(page, "still usable")
            expect(saved.last).to_have_attribute("data-seq", "121")
            expect(page.locator("#messages li.pending")).to_have_count(0)

            # 12 messages are saved while the page is away: it resumes after 121, gets the
            # newest 5 (incomplete) and pages back the other 7.
            servers[0].stop()
            expect_down(page)

            def post_missed() -> None:
                for n in range(1, 13):
                    post(room, bob, f"missed {n}")

            in_thread(post_missed)
            servers.append(start_daphne(env, log_dir, "b", port=servers[0].port))
            expect(saved.last).to_have_attribute("data-seq", "133")
            expect(page.locator("#status")).to_have_attribute("data-state", "connected")
            expect(saved).to_have_count(133)
            assert seqs_shown(page) == list(range(1, 134))
            expect(saved.nth(121).locator(".body")).to_have_text("missed 1")
            # Read out of order (the newest 5 live, then the 7 before them): still one
            # group under bob's name, after alice's message.
            follows = saved.evaluate_all(
                "items => items.slice(121).map(li => li.classList.contains('follow'))"
            )
            assert follows == [False] + [True] * 11, follows
            assert socket_urls[-1].endswith("/ws/chat/?after=archive:121"), socket_urls
            assert {"type": "history.fetch", "room": "archive", "before": 129, "limit": 100} in sent

            # Server down, a message typed, the page reloaded (the browser's error page).
            servers[1].stop()
            expect_down(page)
            send(page, "typed before a reload")
            expect(page.locator("#messages li.pending .body")).to_have_text("typed before a reload")
            with pytest.raises(PlaywrightError, match="ERR_CONNECTION_REFUSED"):
                page.reload()

            # Back up; hold the room socket (open, silent) so the restored entry can be seen.
            held: list[WebSocketRoute] = []
            holding = [True]

            def route(ws: WebSocketRoute) -> None:
                if holding[0]:
                    held.append(ws)
                else:
                    ws.connect_to_server()

            page.route_web_socket(re.compile(r"/ws/chat/"), route)
            servers.append(start_daphne(env, log_dir, "c", port=servers[0].port))
            try:
                page.goto("/chat/archive/")
            except PlaywrightError as error:
                # Chromium's error page reloads itself once the server answers again; that
                # navigation, to the same URL, may win the race with this one.
                if "interrupted by another navigation" not in error.message:
                    raise
            expect(page).to_have_url(re.compile(r"/chat/archive/$"))
            expect(page.locator("#messages li.pending .body")).to_have_text("typed before a reload")
            expect(page.locator("#messages li.pending .state")).to_have_text("sending…")
            page.screenshot(path=str(log_dir / "restored-pending.png"))
            holding[0] = False
            for ws in held:
                ws.close(code=1012)

            expect(saved.last).to_have_attribute("data-seq", "134")
            expect(saved.last.locator(".body")).to_have_text("typed before a reload")
            expect(page.locator("#messages li.pending")).to_have_count(0)
            expect(page.locator("#status")).to_have_attribute("data-state", "connected")
            assert outbox(page, "archive", "alice") == []
            assert page_errors == []
    finally:
        for server in servers:
            server.stop()
    bodies = list(room.messages.order_by("seq").values_list("body", flat=True))
    assert len(bodies) == 134
    assert bodies[120] == "still usable"
    assert bodies[133] == "typed before a reload"
    for server in servers:
        assert "Traceback" not in server.log(), server.log()
