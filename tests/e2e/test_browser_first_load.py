"""Real Chromium, the page's first load for someone in 50 rooms (#23): the time from
navigation start to the first room's messages painted, printed for docs/performance.md
(the issue's target: under 1 s on this machine). One real daphne."""

import statistics
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from chat import services
from chat.models import Room
from chat.services.posting import SendRequest, message_post_many
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOMS = 50
MESSAGES_PER_ROOM = 20
LOADS = 5
# Not the target (1 s, measured and reported): a bound that only a page fetching every
# room's history, or waiting on a timeout, would pass.
SANITY_BOUND_MS = 5000

# Runs before the page's own scripts on every navigation: notes when the shown room has
# its messages in the list, then the frame after (when they are painted).
FIRST_ROOM_PAINTED = """(() => {
  const loaded = () => {
    const room = document.getElementById("room");
    return room && room.dataset.loaded === "true"
      && document.querySelector("#messages li.message[data-seq]");
  };
  new MutationObserver((_, observer) => {
    if (!loaded()) return;
    observer.disconnect();
    requestAnimationFrame(() => { window.firstRoomPainted = performance.now(); });
  }).observe(document, { subtree: true, childList: true, attributes: true,
                         attributeFilter: ["data-loaded"] });
})();"""


@pytest.mark.timeout(240)
def test_first_room_is_painted_quickly_for_someone_in_50_rooms(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    rooms = [Room.objects.create(slug=f"room-{n:02}", name=f"Room {n:02}") for n in range(ROOMS)]
    for room in rooms:
        for user in (alice, bob):
            services.room_join(user=user, slug=room.slug)
    outcomes = message_post_many(
        [
            SendRequest(
                room_id=room.pk,
                author=bob if n % 2 else alice,
                body=f"message {n} in {room.name}, with **some** text",
                client_id=f"{room.slug}-{n}",
            )
            for room in rooms
            for n in range(MESSAGES_PER_ROOM)
        ]
    )
    assert all(isinstance(outcome, dict) for outcome in outcomes)

    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors)
        page.context.add_init_script(FIRST_ROOM_PAINTED)
        took: list[float] = []
        for _ in range(LOADS):
            page.goto("/chat/room-25/")
            expect(page.locator("#room")).to_have_attribute("data-loaded", "true")
            expect(page.locator("#messages li.message[data-seq]")).to_have_count(MESSAGES_PER_ROOM)
            # every joined room is listed (the 50, and the lobby everyone is in)
            expect(page.locator('#sidebar a.room-link[data-slug="room-49"]')).to_have_count(1)
            assert page.locator("#sidebar a.room-link").count() >= ROOMS
            painted = page.evaluate("window.firstRoomPainted ?? null")
            for _ in range(50):
                if painted is not None:
                    break
                page.wait_for_timeout(20)
                painted = page.evaluate("window.firstRoomPainted ?? null")
            assert painted is not None, "the first room was never painted"
            took.append(float(painted))
        median = statistics.median(took)
        print(
            f"first room painted after load, {ROOMS} rooms joined (ms from navigation "
            f"start): {', '.join(f'{t:.0f}' for t in took)}; median {median:.0f}"
        )
        assert median < SANITY_BOUND_MS, took
        assert not errors, errors
