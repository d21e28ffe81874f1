"""Real Chromium, a hook's message (#25): a bot's message read from a real Slack payload
(chat/content/slack) and saved through the write path shows the name and emoji it was
posted with and a BOT badge, its attachment as a card with its colour bar (data-color,
applied through the CSSOM under the page's CSP), short fields side by side (stacked on
a phone), and a live one posted to the real `POST /hooks/<key>` the same way; the bot's
profile card says BOT; mention completion and the people directory badge the bot too;
and the card passes axe's colour-contrast check in the dark theme as in the light one.
One real daphne."""

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import ConsoleMessage, Page, ViewportSize, expect

from accounts.models import Profile
from chat import services
from chat.content.slack import payload_parse
from chat.models import Room
from chat.services import PostedAs, RichContent, SendRequest
from integrations import incoming
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import TIMEOUT_MS, launch_chromium, open_room
from tests.servers import ROOT, daphnes, http_login

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SAVED = "#messages li.message:not(.outbox)"
DANGER_RGB = "rgb(163, 2, 0)"  # Slack's "danger", #a30200
PHONE: ViewportSize = {"width": 375, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}

# What Alertmanager's slack_configs send (its default notification shape, filled in).
ALERT = {
    "channel": "",
    "username": "Prometheus",
    "icon_emoji": ":rotating_light:",
    "text": "",
    "attachments": [
        {
            "color": "danger",
            "fallback": "[FIRING:1] HighLatency api",
            "title": "[FIRING:1] HighLatency",
            "title_link": "https://alertmanager.example.com/#/alerts?receiver=chat",
            "text": "*page* p99 latency above 1 s on `api`",
            "fields": [
                {"title": "Cluster", "value": "eu-1", "short": True},
                {"title": "Severity", "value": "page", "short": True},
            ],
            "footer": "Alertmanager",
            "mrkdwn_in": ["fallback", "pretext", "text"],
        }
    ],
}
# A Block Kit payload with no look of its own: shown as the bot's profile.
DEPLOY = {
    "text": "Deployed v1.4.2",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Deployed v1.4.2"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*api* is live in production"},
            "fields": [{"type": "mrkdwn", "text": "*By*\nalice"}],
        },
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "took 42 s"}]},
    ],
}


def post_payload(room: Room, bot: User, payload: object, client_id: str) -> None:
    """As the incoming hook does: parse the Slack payload, save through the write path."""
    slack = payload_parse(payload)
    services.message_post_one(
        SendRequest(
            room_id=room.pk,
            author=bot,
            body=slack.fallback,
            client_id=client_id,
            rich=RichContent(slack.markdown, slack.card_html),
            posted_as=PostedAs(slack.username, slack.icon_url, slack.icon_emoji),
        )
    )


def colour_contrast_violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate(
        """async () => {
          const results = await window.axe.run(
            { include: [["#messages"]] },
            { runOnly: ["color-contrast"], resultTypes: ["violations"] });
          return results.violations.flatMap((v) => v.nodes.map((n) =>
            n.target.join(" ") + (n.any[0] ? " - " + n.any[0].message : "")));
        }"""
    )
    return found


def card_box(page: Page) -> dict[str, object]:
    box: dict[str, object] = page.evaluate(
        """() => {
          const card = document.querySelector("#messages li.message.bot div.card");
          const style = getComputedStyle(card);
          const fields = [...card.querySelectorAll(".card-field")]
            .map((f) => f.getBoundingClientRect());
          return {
            bar: style.borderLeftColor, barWidth: style.borderLeftWidth,
            background: style.backgroundColor,
            sideBySide: fields.length === 2 && Math.abs(fields[0].top - fields[1].top) < 1,
            stacked: fields.length === 2 && fields[1].top >= fields[0].bottom,
            fits: card.getBoundingClientRect().right <= document.documentElement.clientWidth,
          };
        }"""
    )
    return box


@pytest.mark.timeout(180)
def test_a_hooks_message_shows_its_card_and_bot_badge_in_both_themes(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    assert AXE.exists(), "npm ci installs axe-core"
    alice = make_user("alice", password=TEST_PASSWORD)
    bot = make_user("alerts-bot")
    Profile.objects.update_or_create(user=bot, defaults={"is_bot": True, "display_name": "Alerts"})
    room = Room.objects.create(slug="ops", name="Ops")
    for user in (alice, bot):
        services.room_join(user=user, slug="ops")
    post_payload(room, bot, ALERT, "alert-1")
    services.message_post(room_id=room.pk, author=alice, body="looking", client_id="a1")
    deploys = incoming.hook_create(room=room, name="Deploys", actor=None)

    with daphnes(server_env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        errors: list[str] = []
        context = browser.new_context(base_url=server.http, color_scheme="light")
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(path=str(AXE))  # not by the page: its CSP stays on
        name, value = http_login(server.http, "alice", TEST_PASSWORD).split("=", 1)
        context.add_cookies([{"name": name, "value": value, "url": server.http}])
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))

        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                errors.append(f"CSP: {message.text}")

        page.on("console", on_console)
        open_room(page, "ops")

        # The hook's own look, with the badge; the person's message has none.
        item = page.locator(f"{SAVED}.bot").first
        expect(item.locator(".head .author .display-name")).to_have_text("Prometheus")
        expect(item.locator(".head .author .bot-badge")).to_have_text("BOT")
        expect(item.locator(".avatar-button .avatar-emoji")).to_have_text("🚨")
        expect(page.locator(f"{SAVED}[data-author=alice] .bot-badge")).to_have_count(0)

        # The card: its title links out, its colour bar is the payload's colour.
        card = item.locator(".body div.card")
        expect(card.locator(".card-title a")).to_have_attribute(
            "href", "https://alertmanager.example.com/#/alerts?receiver=chat"
        )
        expect(card.locator(".card-fields dt").first).to_have_text("Cluster")
        light = card_box(page)
        assert light["bar"] == DANGER_RGB, light
        assert light["barWidth"] == "4px", light
        assert light["sideBySide"], light
        assert colour_contrast_violations(page) == []

        # Dark: the same bar, a dark card, text still readable (axe's AA contrast).
        page.emulate_media(color_scheme="dark")
        dark = card_box(page)
        assert dark["bar"] == DANGER_RGB, dark
        assert dark["background"] != light["background"], (light, dark)
        assert colour_contrast_violations(page) == []

        # A phone: short fields stack, and the card fits the screen.
        page.set_viewport_size(PHONE)
        phone = card_box(page)
        assert phone["stacked"], phone
        assert phone["fits"], phone
        page.set_viewport_size(DESKTOP)

        # Live, through the real endpoint (POST /hooks/<key> on the daphne serving the
        # page), Block Kit, no look of its own: the hook's bot's name, still BOT.
        answer = urllib.request.urlopen(
            urllib.request.Request(
                server.http + incoming.hook_path(deploys.key),
                data=json.dumps(DEPLOY).encode(),
                headers={"Content-Type": "application/json"},
            ),
            timeout=10,
        )
        assert (answer.status, answer.read()) == (200, b"ok")
        live = page.locator(f"{SAVED}.bot").nth(1)
        expect(live.locator(".body .blocks .block-header")).to_have_text("Deployed v1.4.2")
        expect(live.locator(".body .blocks hr")).to_have_count(1)
        expect(live.locator(".head .author .display-name")).to_have_text("Deploys")
        expect(live.locator(".head .author .bot-badge")).to_be_visible()
        expect(live).not_to_have_class(re.compile(r"\bfollow\b"))
        assert colour_contrast_violations(page) == []

        # The bot's profile card says it is one.
        item.locator(".head .author").click()
        expect(page.locator("#profile-card")).to_be_visible()
        expect(page.locator("#profile-card-handle")).to_have_text("@alerts-bot")
        expect(page.locator("#profile-card-bot")).to_be_visible()
        page.keyboard.press("Escape")
        page.locator(f"{SAVED}[data-author=alice] .head .author").click()
        expect(page.locator("#profile-card-handle")).to_have_text("@alice")
        expect(page.locator("#profile-card-bot")).to_be_hidden()
        page.keyboard.press("Escape")

        # Mention completion and the people directory badge the bot too.
        page.focus("#body")
        page.keyboard.type("@alert")
        option = page.locator("#mention-list li", has_text="@alerts-bot")
        # Generous: the members.search round trip waits behind the suite's other passes.
        expect(option.locator(".bot-badge")).to_have_text("BOT", timeout=15_000)
        page.keyboard.press("Escape")
        page.fill("#body", "")
        page.goto("/people/")
        expect(page.locator(".person[data-username=alerts-bot] .bot-badge")).to_have_text("BOT")
        expect(page.locator(".person[data-username=alice] .bot-badge")).to_have_count(0)
        context.close()
        assert errors == []
