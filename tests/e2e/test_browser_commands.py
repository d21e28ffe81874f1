"""Real-browser slash commands (#25): the `/` completion lists hello's commands,
`/help` answers with an "Only visible to you" line that the other reader never sees
and that is gone on reload, `/shrug` posts a message, and `//` sends a line starting
with "/". Headless Chromium (Debian's) against one real daphne, under the page's CSP."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from chat import services
from chat.models import Message, Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in, open_room, send
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAVED = "#messages li.message:not(.outbox)"
EPHEMERAL = "#messages li.ephemeral"


@pytest.mark.timeout(240)
def test_slash_commands_in_the_composer(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design", created_by=alice)
    for user in (alice, bob):
        services.room_join(user=user, slug="design")
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        other = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        open_room(page, "design")
        open_room(other, "design")

        # Typing a slash lists the commands; Tab takes the first match.
        page.locator("#body").click()
        page.keyboard.type("/sh", delay=10)
        expect(page.locator("#command-list")).to_be_visible()
        expect(page.locator("#command-list [role=option]").first).to_contain_text("/shrug [text]")
        page.keyboard.press("Tab")
        expect(page.locator("#body")).to_have_value("/shrug ")
        page.keyboard.type("fine", delay=10)
        page.keyboard.press("Enter")
        expect(page.locator(f"{SAVED} .body").last).to_have_text("fine ¯\\_(ツ)_/¯")
        expect(other.locator(f"{SAVED} .body").last).to_have_text("fine ¯\\_(ツ)_/¯")

        # /help: for alice alone, marked so, never stored.
        send(page, "/help")
        line = page.locator(EPHEMERAL).last
        expect(line).to_contain_text("Only visible to you")
        expect(line).to_contain_text("/dnd <minutes>|off")
        # A double slash is a message that starts with one.
        send(page, "//help is what you type")
        expect(other.locator(f"{SAVED} .body").last).to_have_text("/help is what you type")
        expect(other.locator(EPHEMERAL)).to_have_count(0)
        page.reload()
        expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        expect(page.locator(f"{SAVED} .body").last).to_have_text("/help is what you type")
        expect(page.locator(EPHEMERAL)).to_have_count(0)

        # /topic by the room's owner: bob's header shows it live (room.updated).
        send(page, "/topic Deploys and alerts")
        expect(other.locator(".room-head .topic")).to_have_text("Deploys and alerts")
        assert errors == []
    bodies = list(Message.objects.filter(room=room).order_by("seq").values_list("body", flat=True))
    assert bodies == [
        "fine ¯\\_(ツ)_/¯",
        "/help is what you type",
        "@alice set the topic: Deploys and alerts",
    ]
