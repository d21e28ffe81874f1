"""Real-browser presence and typing: the "Online" list and the typing line of
the room page, in headless Chromium (Debian's, never a downloaded one) against one real
daphne, two users logged in through the real form in two browser contexts."""

import json
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, WebSocket, expect

from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in, open_room
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TYPING_SHOWN_SECONDS = 5.0  # an indicator lasts this long after its last typing frame
TYPING_SEND_EVERY_SECONDS = 2.0  # the page sends a typing frame at most this often


def expect_online(page: Page, *entries: str) -> None:
    """The sidebar lists exactly these entries, in this order ("alice (you)", "bob")."""
    expect(page.locator("#online li")).to_have_text(list(entries))


def record_typing_frames(page: Page) -> list[float]:
    """Monotonic times at which the page sent {"type": "typing"} on any of its sockets."""
    sent: list[float] = []

    def on_frame(payload: str | bytes) -> None:
        if isinstance(payload, str) and json.loads(payload).get("type") == "typing":
            sent.append(time.monotonic())

    def on_socket(ws: WebSocket) -> None:
        ws.on("framesent", on_frame)

    page.on("websocket", on_socket)
    return sent


@pytest.mark.timeout(120)
def test_online_sidebar_and_typing_indicator_follow_the_room_live(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("alice", password=TEST_PASSWORD)
    make_user("bob", password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    with (
        daphnes(server_env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        page_errors: list[str] = []
        alice = log_in(browser, server.http, "alice", page_errors)
        bob = log_in(browser, server.http, "bob", page_errors)
        bob_typing = record_typing_frames(bob)
        alice_typing = alice.locator("#typing")
        bob_typing_line = bob.locator("#typing")

        # Alice alone: only herself, marked as such.
        open_room(alice, "lobby")
        expect(alice.locator("#presence h2")).to_contain_text("Online")
        expect_online(alice, "alice (you)")
        expect(alice.locator("#online li.self")).to_have_attribute("data-username", "alice")

        # Bob arrives: hello.online for him, a presence "joined" for her.
        open_room(bob, "lobby")
        expect_online(bob, "alice", "bob (you)")
        expect_online(alice, "alice (you)", "bob")
        expect(alice_typing).to_have_text("")

        # Bob types for a while without sending: alice sees it, bob never sees himself.
        # One typing frame at the first key, then at most one per 2 s.
        started = time.monotonic()
        bob.locator("#body").press_sequentially("hello alice, how", delay=150)
        stopped = time.monotonic()
        expect(alice_typing).to_have_text("bob is typing…")
        alice.screenshot(path=str(log_dir / "alice-bob-typing.png"), full_page=True)
        expect(bob_typing_line).to_have_text("")
        assert 1 <= len(bob_typing) <= 1 + int((stopped - started) / TYPING_SEND_EVERY_SECONDS)
        assert bob_typing[0] - started < 1.0, "the first key did not announce typing"
        gaps = [b - a for a, b in pairwise(bob_typing)]
        assert all(gap >= TYPING_SEND_EVERY_SECONDS - 0.3 for gap in gaps), gaps

        # Bob stops: the indicator lasts 5 s after his last typing frame, then goes.
        expect(alice_typing).to_have_text("", timeout=(TYPING_SHOWN_SECONDS + 2.5) * 1000)
        gone = time.monotonic()
        assert gone - bob_typing[-1] >= TYPING_SHOWN_SECONDS - 1.0, "cleared too early"
        assert gone - bob_typing[-1] <= TYPING_SHOWN_SECONDS + 2.0, "cleared too late"
        expect(bob_typing_line).to_have_text("")

        # Bob types on (more than 2 s since the last frame: announced at once) and sends:
        # his message clears his indicator at once, not 5 s later.
        frames_before = len(bob_typing)
        bob.locator("#body").press_sequentially(" are you?", delay=30)
        expect(alice_typing).to_have_text("bob is typing…")
        assert len(bob_typing) == frames_before + 1
        shown = time.monotonic()
        bob.click("#composer button[type=submit]")
        expect(bob.locator("#body")).to_have_value("")
        last = alice.locator("#messages li.message").last
        expect(last.locator(".body")).to_have_text("hello alice, how are you?")
        expect(last.locator(".author")).to_have_text("bob")
        expect(alice_typing).to_have_text("", timeout=1500)
        assert time.monotonic() - shown < TYPING_SHOWN_SECONDS - 1.0, "not cleared by the message"

        # Nothing is announced for an empty (or blank) input, even once 2 s have passed.
        window_opens = bob_typing[-1] + TYPING_SEND_EVERY_SECONDS + 0.1
        bob.wait_for_timeout(max(0.0, window_opens - time.monotonic()) * 1000)
        frames_before = len(bob_typing)
        bob.locator("#body").press_sequentially("  ")
        bob.locator("#body").press("Backspace")
        bob.locator("#body").press("Backspace")
        bob.wait_for_timeout(300)
        assert len(bob_typing) == frames_before
        typed = time.monotonic()
        bob.locator("#body").press_sequentially("x")
        expect(alice_typing).to_have_text("bob is typing…")
        assert len(bob_typing) == frames_before + 1
        assert bob_typing[-1] >= typed

        # Bob closes his page: his last connection goes, alice's sidebar drops him, and
        # his typing indicator goes with him at once.
        bob.context.close()
        expect_online(alice, "alice (you)")
        expect(alice_typing).to_have_text("", timeout=2000)
        assert time.monotonic() - typed < TYPING_SHOWN_SECONDS - 1.0, "not cleared on leaving"
        expect(alice.locator("#online-count")).to_have_text("(1)")
        assert not alice.locator("#error").is_visible()
        assert page_errors == []
        alice.context.close()
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.timeout(120)
def test_a_room_bigger_than_the_hello_limit_shows_a_count_and_keeps_it_live(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    for name in ("alice", "bob", "carol"):
        make_user(name, password=TEST_PASSWORD)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    env = {**server_env, "CHAT_HELLO_ONLINE_LIMIT": "0"}  # hello names nobody, counts all
    with daphnes(env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        page_errors: list[str] = []
        pages = {name: log_in(browser, server.http, name, page_errors) for name in ("alice", "bob")}
        for page in pages.values():
            open_room(page, "lobby")
        carol = log_in(browser, server.http, "carol", page_errors)
        open_room(carol, "lobby")
        expect_online(carol, "carol (you)", "and 2 more")
        expect(carol.locator("#online-count")).to_have_text("(3)")
        expect_online(pages["alice"], "alice (you)", "bob", "carol")  # told by presence

        pages["bob"].close()  # bob leaves: a name carol was never given
        expect(carol.locator("#online-count")).to_have_text("(2)")
        expect_online(carol, "carol (you)", "and 1 more")
        assert page_errors == []
