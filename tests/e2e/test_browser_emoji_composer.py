"""Real-browser emoji and composer (#23): `:tada:` rendered as 🎉 by the server, the
emoji picker used from the keyboard alone (composer and reaction), `:` completion, Up
editing the last message, and a draft that survives a room switch and a reload.
Headless Chromium (Debian's) against one real daphne, under the page's strict CSP."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from chat import services
from chat.models import Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import launch_chromium, log_in, open_room, send
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAVED = "#messages li.message:not(.outbox)"
PICKER = "#emoji-picker"


def last_body(page: Page) -> str:
    return page.locator(f"{SAVED} .body").last.inner_text().strip()


def react_button(page: Page, message_id: int) -> Locator:
    """The button that opens the reaction picker for a message, focused as a keyboard
    user reaches it: the message's action-bar React (shown while the message has the
    focus) where the message list has one, else the reaction bar's "☺+"."""
    item = page.locator(f'{SAVED}[data-id="{message_id}"]')
    react = item.locator(":scope > .actions button.react-message")
    if react.count():
        item.focus()
        return react
    return item.locator(".reactions button.react-add")


def keyboard_type(page: Page, text: str) -> None:
    page.keyboard.type(text, delay=10)


@pytest.mark.timeout(240)
def test_emoji_and_composer_from_the_keyboard(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice = make_user("alice", password=TEST_PASSWORD)
    bob = make_user("bob", password=TEST_PASSWORD)
    room = Room.objects.create(slug="design", name="Design")
    Room.objects.create(slug="ops", name="Ops")
    for user in (alice, bob):
        services.room_join(user=user, slug="design")
    services.room_join(user=alice, slug="ops")
    target = services.message_post(room_id=room.pk, author=bob, body="ship it?", client_id="t")
    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        page = log_in(browser, server.http, "alice", errors, report_csp_and_dialogs=True)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        other = log_in(browser, server.http, "bob", errors, report_csp_and_dialogs=True)
        open_room(page, "design")
        open_room(other, "design")
        body = page.locator("#body")
        expect(page.locator("#format-hint")).to_be_visible()
        expect(page.locator("#format-hint")).to_contain_text("Shift+Enter new line")

        # The server renders a typed :tada:, for both readers; unknown names stay text.
        send(page, ":tada: shipped :no_such_emoji: `:tada:`")
        expect(page.locator(f"{SAVED} .body").last).to_have_text(
            "🎉 shipped :no_such_emoji: :tada:"
        )
        expect(page.locator(f"{SAVED} .body code").last).to_have_text(":tada:")
        expect(other.locator(f"{SAVED} .body").last).to_contain_text("🎉 shipped")

        # The emoji table is not part of the page load: the first `:` completion or
        # picker imports it.
        assert not [url for url in requested if "emojidata" in url]

        # `:` completion: ":tad" lists 🎉 first; Enter puts it in; Escape closes a list.
        body.focus()
        keyboard_type(page, "done :tad")
        completion = page.locator("#emoji-complete-list")
        expect(completion).to_be_visible()
        expect(completion.locator("[role=option]").first).to_contain_text("🎉 :tada:")
        page.keyboard.press("Enter")
        expect(completion).to_be_hidden()
        expect(body).to_have_value("done 🎉")
        assert len([url for url in requested if "emojidata" in url]) == 1
        keyboard_type(page, " :thumbs")
        expect(completion).to_be_visible()
        page.keyboard.press("Escape")
        expect(completion).to_be_hidden()
        expect(body).to_have_value("done 🎉 :thumbs")
        # Shift+Enter is a new line; Enter sends.
        page.keyboard.press("Shift+Enter")
        keyboard_type(page, "two")
        expect(body).to_have_value("done 🎉 :thumbs\ntwo")
        page.keyboard.press("Enter")
        expect(body).to_have_value("")
        expect(page.locator(f"{SAVED} .body").last).to_have_text("done 🎉 :thumbs\ntwo")

        # The composer's picker, keyboard only: Tab to its button, Enter opens it with the
        # search box focused; a search and Enter insert; Escape closes; focus comes back.
        body.focus()
        page.keyboard.press("Tab")
        expect(page.locator("#emoji-open")).to_be_focused()
        page.keyboard.press("Enter")
        picker = page.locator(PICKER)
        expect(picker).to_be_visible()
        expect(picker.locator(".emoji-search")).to_be_focused()
        expect(picker.locator("[role=option]").first).to_be_visible()  # the table loaded
        keyboard_type(page, "rocket")
        expect(picker.locator("[role=option]").first).to_have_attribute("data-emoji", "🚀")
        page.keyboard.press("Enter")
        expect(picker).to_be_hidden()
        expect(body).to_be_focused()
        expect(body).to_have_value("🚀")
        # Recently used first; Tab into the grid, an arrow moves, Enter picks.
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(picker).to_be_visible()
        expect(picker.locator("[role=group]").first).to_have_attribute(
            "aria-label", "Recently used"
        )
        expect(picker.locator("[role=option]").first).to_have_attribute("data-emoji", "🚀")
        page.keyboard.press("Tab")
        expect(picker.locator("[role=option]").first).to_be_focused()
        page.keyboard.press("ArrowRight")
        second = picker.locator("[role=option]").nth(1)
        expect(second).to_be_focused()
        chosen = second.get_attribute("data-emoji")
        assert chosen
        page.keyboard.press("Enter")
        expect(body).to_have_value("🚀" + chosen)
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(picker).to_be_visible()
        page.keyboard.press("Escape")
        expect(picker).to_be_hidden()
        expect(page.locator("#emoji-open")).to_be_focused()
        body.fill("")

        # A reaction, keyboard only: the message's react button, Enter, search, Enter.
        add = react_button(page, target["id"])
        add.focus()
        page.keyboard.press("Enter")
        expect(picker).to_be_visible()
        expect(picker).to_have_attribute("aria-label", "Pick a reaction")
        keyboard_type(page, "thumbsup")
        expect(picker.locator("[role=option]").first).to_have_attribute("data-emoji", "👍")
        page.keyboard.press("Enter")
        expect(picker).to_be_hidden()
        expect(add).to_be_focused()
        chip = f'{SAVED}[data-id="{target["id"]}"] .reactions button.reaction'
        expect(page.locator(chip)).to_have_text("👍 1")
        expect(page.locator(chip)).to_have_attribute("aria-pressed", "true")
        expect(other.locator(chip)).to_have_text("👍 1")
        # The reaction picker offers only the server's set: no flags, for one.
        page.keyboard.press("Enter")
        keyboard_type(page, "flag_germany")
        expect(picker.locator("[role=option]")).to_have_count(0)
        page.keyboard.press("Escape")
        expect(add).to_be_focused()

        # Up in the empty composer edits the last own message; Enter saves it.
        body.focus()
        page.keyboard.press("ArrowUp")
        editor = page.locator(f"{SAVED} textarea.editor")
        expect(editor).to_be_focused()
        expect(editor).to_have_value("done 🎉 :thumbs\ntwo")
        page.keyboard.press("ControlOrMeta+a")
        keyboard_type(page, "edited :tada:")
        page.keyboard.press("Enter")
        expect(editor).to_have_count(0)
        expect(body).to_be_focused()  # back where the Up came from
        expect(page.locator(f"{SAVED} .body").last).to_have_text("edited 🎉")
        expect(other.locator(f"{SAVED} .body").last).to_have_text("edited 🎉")
        page.keyboard.press("ArrowUp")
        expect(editor).to_be_focused()
        page.keyboard.press("Escape")
        expect(editor).to_have_count(0)
        expect(body).to_be_focused()

        # A draft stays with its room across a switch and a reload, and goes when sent.
        body.focus()
        keyboard_type(page, "half a thought")
        page.locator('#room-list a[href="/chat/ops/"]').click()
        expect(page.locator("#room")).to_have_attribute("data-loaded", "true")
        expect(page).to_have_url(f"{server.http}/chat/ops/")
        expect(body).to_have_value("")
        body.focus()
        keyboard_type(page, "ops draft")
        page.locator('#room-list a[href="/chat/design/"]').click()
        expect(page).to_have_url(f"{server.http}/chat/design/")
        expect(body).to_have_value("half a thought")
        page.reload()
        open_room(page, "design")
        expect(body).to_have_value("half a thought")
        body.focus()
        page.keyboard.press("Enter")
        expect(body).to_have_value("")
        expect(page.locator(f"{SAVED} .body").last).to_have_text("half a thought")
        page.reload()
        open_room(page, "design")
        expect(body).to_have_value("")
        open_room(page, "ops")
        expect(body).to_have_value("ops draft")

        # A phone: the picker is a sheet along the bottom edge, inside the viewport, with
        # cells big enough for a finger.
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator("#emoji-open").focus()
        page.keyboard.press("Enter")
        expect(picker).to_have_class("emoji-picker sheet")
        expect(picker.locator("[role=option]").first).to_be_visible()
        box = picker.bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= 390, box
        assert abs(box["y"] + box["height"] - 844) < 2, box  # along the bottom edge
        cell = picker.locator("[role=option]").first.bounding_box()
        assert cell is not None
        assert min(cell["width"], cell["height"]) >= 40, cell
        # The room header's overflow at this width is the phone layout's (design) to fix;
        # the composer, its buttons and the picker stay inside.
        for part in ("#composer", "#emoji-open", "#composer button[type=submit]", PICKER):
            right = page.locator(part).evaluate("el => el.getBoundingClientRect().right")
            assert right <= 390, (part, right)
        page.keyboard.press("Escape")
        expect(picker).to_be_hidden()
        assert errors == []
