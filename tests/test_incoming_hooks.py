"""Incoming webhooks (`POST /hooks/<key>`): payloads as Alertmanager, Grafana and GitHub
Actions send them, every answer Slack gives, the integrations page and command, and the
per-hook rate limit shared by two real daphne processes through Redis."""

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from chat import services
from chat.models import Message, Room, Sanction
from chat.protocol.codes import HOOK_STATUS, HookAnswer
from integrations import incoming
from integrations.models import IncomingWebhook
from tests.conftest import session_cookie
from tests.hooks_client import HookResponse, hook_call, hook_post
from tests.servers import daphnes, recv_until, ws_connect

# transaction=True: the hook view is async; its reads run on the read threads and its
# save on the database thread, which see only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

# Alertmanager's slack_configs with its default templates (alertmanager/template/
# default.tmpl): the text is in one attachment, coloured by status.
ALERTMANAGER = {
    "channel": "#general",
    "username": "Alertmanager",
    "icon_url": "https://avatars3.githubusercontent.com/u/3380462",
    "attachments": [
        {
            "title": "[FIRING:1] InstanceDown (node-exporter critical)",
            "title_link": "http://alertmanager:9093/#/alerts?receiver=slack",
            "pretext": "",
            "text": "*Alert:* Instance db-1 down - `critical`\n*Description:* db-1 has been "
            "down for more than 5 minutes.",
            "fallback": "[FIRING:1] InstanceDown (node-exporter critical) | "
            "http://alertmanager:9093/#/alerts?receiver=slack",
            "callback_id": "",
            "footer": "",
            "color": "danger",
            "mrkdwn_in": ["fallback", "pretext", "text"],
        }
    ],
}

# Grafana's Slack contact point (pkg/services/ngalert/notifier/channels/slack.go): an
# attachment with a hex colour, footer and ts; empty and null fields as Go marshals them.
GRAFANA = {
    "channel": "",
    "username": "Grafana",
    "icon_emoji": ":chart_with_upwards_trend:",
    "icon_url": "",
    "attachments": [
        {
            "color": "#D63232",
            "title": "[FIRING:1] HighLatency (api)",
            "title_link": "http://grafana.local:3000/alerting/list",
            "text": "**Firing**\n\nValue: B=812.5\nLabels:\n - alertname = HighLatency\n",
            "fallback": "[FIRING:1] HighLatency (api)",
            "footer": "Grafana v10.4.1",
            "footer_icon": "https://grafana.com/static/assets/img/fav32.png",
            "ts": 1717000000,
            "mrkdwn_in": ["pretext"],
        }
    ],
}

# A GitHub Actions step: `curl -X POST -H 'Content-type: application/json' --data "…"`,
# Block Kit as slackapi/slack-github-action's examples post it.
GITHUB_ACTIONS = {
    "text": "Deploy of main finished: <https://github.com/acme/shop/actions/runs/42|run 42>",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Deploy finished"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*acme/shop* `main` deployed by _octocat_"},
            "fields": [
                {"type": "mrkdwn", "text": "*Status:*\nsuccess"},
                {
                    "type": "mrkdwn",
                    "text": "*Commit:*\n<https://github.com/acme/shop/commit/abc|abc>",
                },
            ],
        },
        {"type": "divider"},
        {"type": "actions", "elements": []},  # not shown, never an error
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "workflow deploy.yml"}]},
    ],
}


@pytest.fixture(autouse=True)
def _roomy_hooks(settings: Any) -> None:
    # Ids repeat between tests on SQLite and the in-memory buckets outlive a test: each
    # test but the rate-limit ones posts without meeting the limit.
    settings.CHAT_WEBHOOK_BURST = 0


@pytest.fixture
def hook(room: Room) -> incoming.NewHook:
    return incoming.hook_create(room=room, name="Alerts", actor=None)


def post(key: str, body: bytes | str, content_type: str = "application/json") -> HookResponse:
    return hook_post(key, body, content_type)


def post_json(key: str, payload: object) -> HookResponse:
    return post(key, json.dumps(payload))


def answer(response: Any) -> tuple[int, str]:
    return response.status_code, response.content.decode()


def last_message() -> Message:
    return Message.objects.select_related("author").order_by("-id")[0]


def test_an_alertmanager_alert_is_posted_as_the_hooks_bot_with_its_card(
    hook: incoming.NewHook, room: Room
) -> None:
    response = post_json(hook.key, ALERTMANAGER)
    assert answer(response) == (200, "ok")
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    message = last_message()
    assert message.room_id == room.pk
    assert message.author == hook.hook.bot
    assert message.author.profile.is_bot
    assert message.as_name == "Alertmanager"
    # The icon's host is not in CHAT_AVATAR_HOSTS: the hook's own avatar instead.
    assert message.as_avatar == ""
    assert "InstanceDown" in message.body  # search and notifications read the fallback
    assert "InstanceDown" in message.html
    assert "db-1" in message.html
    assert "<script" not in message.html


def test_an_icon_url_on_an_allowed_host_becomes_the_avatar(
    hook: incoming.NewHook, settings: Any
) -> None:
    settings.CHAT_AVATAR_HOSTS = ["*.githubusercontent.com"]
    assert answer(post_json(hook.key, ALERTMANAGER)) == (200, "ok")
    assert last_message().as_avatar == "https://avatars3.githubusercontent.com/u/3380462"
    # http, or another port, is not what the CSP's https://host source allows.
    assert not incoming.avatar_url_allowed("http://avatars3.githubusercontent.com/u/1")
    assert not incoming.avatar_url_allowed("https://avatars3.githubusercontent.com:8443/u/1")
    assert not incoming.avatar_url_allowed("https://githubusercontent.com.evil.example/u/1")


def test_the_csp_lets_the_page_show_the_allowed_avatar_hosts() -> None:
    # Settings are read once at start: a fresh interpreter, as a server would start.
    script = (
        "import chatsite.settings as s, json;"
        "print(json.dumps(s.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']))"
    )
    env = {
        **os.environ,
        "CHAT_AVATAR_HOSTS": "Avatars.GitHubUserContent.com, *.grafana.com",
        "DJANGO_SECRET_KEY": "csp",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == [
        "'self'",
        "data:",
        "https://avatars.githubusercontent.com",
        "https://*.grafana.com",
    ]


def test_a_grafana_alert_as_a_form_payload_is_posted(hook: incoming.NewHook) -> None:
    body = urllib.parse.urlencode({"payload": json.dumps(GRAFANA)})
    response = post(hook.key, body, "application/x-www-form-urlencoded")
    assert answer(response) == (200, "ok")
    message = last_message()
    assert message.as_name == "Grafana"
    assert message.as_emoji  # the emoji itself, shown as the avatar
    assert "HighLatency" in message.body
    assert "HighLatency" in message.html
    assert "Grafana v10.4.1" in message.html


def test_a_github_actions_curl_with_blocks_is_posted(hook: incoming.NewHook) -> None:
    # curl -d sends a form content type unless told otherwise: the JSON is read anyway.
    response = post(hook.key, json.dumps(GITHUB_ACTIONS), "application/x-www-form-urlencoded")
    assert answer(response) == (200, "ok")
    message = last_message()
    assert "Deploy finished" in message.html
    assert 'href="https://github.com/acme/shop/commit/abc"' in message.html
    assert "octocat" in message.body


def test_the_api_shows_a_hook_message_as_a_bots(hook: incoming.NewHook, alice: User) -> None:
    assert answer(post_json(hook.key, {"text": "*deployed*", "username": "CI"})) == (200, "ok")
    client = Client()
    client.force_login(alice)
    page = client.get("/api/rooms/general/messages/").json()
    got = page["messages"][-1]
    assert got["author_bot"] is True
    assert got["author_display_name"] == "CI"
    assert "<strong>deployed</strong>" in got["html"]


def test_a_thread_field_replies_in_that_thread(
    hook: incoming.NewHook, room: Room, alice: User
) -> None:
    root = services.message_post_one(
        services.SendRequest(room_id=room.pk, author=alice, body="deploy?", client_id="r1")
    )
    assert answer(post_json(hook.key, {"text": "done", "thread": root["id"]})) == (200, "ok")
    assert last_message().thread_id == root["id"]
    # A root that is not a message of the hook's room: the payload is refused.
    assert answer(post_json(hook.key, {"text": "x", "thread": 999999})) == (400, "invalid_payload")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "invalid_payload"),
        (b"[1, 2]", "invalid_payload"),
        (b'"text"', "invalid_payload"),
        (b'{"text": 5}', "invalid_payload"),
        (b'{"attachments": {"text": "x"}}', "invalid_payload"),
        (b"\xff\xfe\x00", "invalid_payload"),
        (b"[" * 5000 + b"]" * 5000, "invalid_payload"),
        (b"{}", "no_text"),
        (b'{"text": "   "}', "no_text"),
        (b'{"blocks": [{"type": "divider"}]}', "no_text"),
    ],
)
def test_payloads_it_cannot_show_are_answered_400(
    hook: incoming.NewHook, body: bytes, expected: str
) -> None:
    assert answer(post(hook.key, body)) == (400, expected)
    assert not Message.objects.exists()


def test_a_form_whose_payload_is_not_json_is_invalid(hook: incoming.NewHook) -> None:
    response = post(hook.key, "payload=%7Bnope", "application/x-www-form-urlencoded")
    assert answer(response) == (400, "invalid_payload")


def test_unknown_and_revoked_keys_are_no_service(hook: incoming.NewHook, room: Room) -> None:
    assert answer(post_json("x" * 43, {"text": "hi"})) == (404, "no_service")
    staff = User.objects.create_user("root", is_staff=True)
    incoming.hook_revoke(hook_id=hook.hook.pk, room=room, actor=staff)
    assert answer(post_json(hook.key, {"text": "hi"})) == (404, "no_service")
    assert not Message.objects.exists()


def test_the_key_is_long_random_and_stored_hashed(hook: incoming.NewHook) -> None:
    assert len(hook.key) >= 32
    assert all(c.isalnum() or c in "-_" for c in hook.key)
    stored = IncomingWebhook.objects.get()
    assert stored.digest == incoming.key_digest(hook.key) != hook.key
    assert hook.key not in json.dumps(list(IncomingWebhook.objects.values()), default=str)


def test_a_locked_room_or_a_banned_bot_is_action_prohibited(
    hook: incoming.NewHook, room: Room
) -> None:
    room.is_locked = True
    room.save()
    assert answer(post_json(hook.key, {"text": "hi"})) == (403, "action_prohibited")
    room.is_locked = False
    room.save()
    Sanction.objects.create(user=hook.hook.bot, room=room, kind=Sanction.Kind.BAN)
    assert answer(post_json(hook.key, {"text": "hi"})) == (403, "action_prohibited")
    assert not Message.objects.exists()


def test_a_deactivated_bot_is_action_prohibited_and_its_hook_revoked(
    hook: incoming.NewHook,
) -> None:
    bot = hook.hook.bot
    bot.is_active = False
    bot.save()  # as the admin's checkbox does
    assert answer(post_json(hook.key, {"text": "hi"})) == (403, "action_prohibited")
    assert IncomingWebhook.objects.get().revoked_at is not None
    bot.is_active = True
    bot.save()  # a revoked hook stays revoked
    assert answer(post_json(hook.key, {"text": "hi"})) == (404, "no_service")


def test_channel_reaches_only_rooms_staff_allowed(hook: incoming.NewHook, room: Room) -> None:
    ops = Room.objects.create(slug="ops", name="Ops", is_private=True)
    Room.objects.create(slug="random", name="Random")
    assert answer(post_json(hook.key, {"text": "x", "channel": "#random"})) == (
        404,
        "channel_not_found",
    )
    assert answer(post_json(hook.key, {"text": "x", "channel": "nowhere"})) == (
        404,
        "channel_not_found",
    )
    hook.hook.other_rooms.add(ops)
    incoming.hook_rooms_joined(hook=hook.hook)  # as the admin does when it saves the rooms
    assert answer(post_json(hook.key, {"text": "to ops", "channel": "#ops"})) == (200, "ok")
    assert last_message().room_id == ops.pk
    assert answer(post_json(hook.key, {"text": "home", "channel": "general"})) == (200, "ok")
    assert last_message().room_id == room.pk


def test_a_body_over_the_limit_is_413_before_it_is_read(
    hook: incoming.NewHook, settings: Any
) -> None:
    settings.CHAT_WEBHOOK_MAX_BYTES = 1000
    big = json.dumps({"text": "x" * 2000})
    assert answer(post(hook.key, big)) == (413, "payload_too_large")
    assert answer(post(hook.key, json.dumps({"text": "x" * 900}))) == (200, "ok")


def test_the_default_size_limit_is_256_kib() -> None:
    from chatsite import settings as site

    assert site.CHAT_WEBHOOK_MAX_BYTES == 256 * 1024


def test_past_the_burst_a_hook_is_answered_429_with_retry_after(
    hook: incoming.NewHook, settings: Any
) -> None:
    settings.CHAT_WEBHOOK_BURST = 3
    settings.CHAT_WEBHOOK_RATE_PER_SECOND = 0.01
    codes = [answer(post_json(hook.key, {"text": f"n{n}"})) for n in range(5)]
    assert codes == [(200, "ok")] * 3 + [(429, "rate_limited")] * 2
    response = post_json(hook.key, {"text": "again"})
    assert int(response.headers["Retry-After"]) >= 1
    assert Message.objects.count() == 3


def test_only_post_is_answered(hook: incoming.NewHook) -> None:
    response = hook_call("GET", f"/hooks/{hook.key}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_a_host_outside_allowed_hosts_is_refused(hook: incoming.NewHook) -> None:
    # As Django refuses any request whose Host is not in ALLOWED_HOSTS.
    refused = hook_call("POST", f"/hooks/{hook.key}", b'{"text": "hi"}', host="evil.example")
    assert (refused.status_code, refused.content) == (400, b"bad_host")
    assert not Message.objects.exists()
    allowed = hook_call("POST", f"/hooks/{hook.key}", b'{"text": "hi"}')
    assert (allowed.status_code, allowed.content) == (200, b"ok")


# --- who manages hooks: the page and the command ---------------------------------


def test_a_private_rooms_owner_adds_a_hook_on_the_page_and_it_posts(
    make_user: Callable[..., User],
) -> None:
    owner = make_user("olga")
    secret_room = services.room_create(
        slug="ops", name="Ops", topic="", creator=owner, is_private=True
    )
    client = Client()
    client.force_login(owner)
    page = client.post("/chat/ops/integrations/", {"action": "create", "name": "Uptime Kuma"})
    assert page.status_code == 200
    url = page.context["created_url"]
    assert url.startswith("http://testserver/hooks/")
    assert page["Cache-Control"].startswith("max-age=0")
    key = url.rsplit("/", 1)[1]
    assert answer(post_json(key, {"text": "site down"})) == (200, "ok")
    message = last_message()
    assert message.room_id == secret_room.pk
    assert message.author is not None
    assert message.author.profile.display_name == "Uptime Kuma"
    listed = client.get("/chat/ops/integrations/")
    assert b"Uptime Kuma" in listed.content
    assert key.encode() not in listed.content
    hook_id = IncomingWebhook.objects.get().pk
    client.post("/chat/ops/integrations/", {"action": "revoke", "hook": str(hook_id)})
    assert answer(post_json(key, {"text": "again"})) == (404, "no_service")


def test_members_of_a_public_room_manage_hooks_only_when_staff_allow(
    room: Room, alice: User, make_user: Callable[..., User]
) -> None:
    services.room_join(user=alice, slug=room.slug)
    client = Client()
    client.force_login(alice)
    assert client.get("/chat/general/integrations/").status_code == 403
    assert client.post("/chat/general/integrations/", {"name": "x"}).status_code == 403
    assert not IncomingWebhook.objects.exists()
    with override_settings(CHAT_WEBHOOKS_MEMBERS_MAY_CREATE=True):
        assert client.get("/chat/general/integrations/").status_code == 200
        outsider = Client()
        outsider.force_login(make_user("carol"))  # not a member
        assert outsider.get("/chat/general/integrations/").status_code == 403
    staff = Client()
    staff.force_login(make_user("root", is_staff=True))
    assert staff.get("/chat/general/integrations/").status_code == 200


def test_a_private_room_hides_its_page_from_non_members(
    make_user: Callable[..., User],
) -> None:
    services.room_create(
        slug="ops", name="Ops", topic="", creator=make_user("olga"), is_private=True
    )
    client = Client()
    client.force_login(make_user("eve"))
    assert client.get("/chat/ops/integrations/").status_code == 404


def test_the_room_page_links_its_integrations_for_those_who_may_manage(
    room: Room, alice: User, make_user: Callable[..., User], settings: Any
) -> None:
    services.room_join(user=alice, slug=room.slug)
    member = Client()
    member.force_login(alice)
    link = 'href="/chat/general/integrations/"'
    page = member.get("/chat/general/").content.decode()
    assert link not in page
    assert 'data-hooks-open=""' in page  # the script hides the link on room switches too
    settings.CHAT_WEBHOOKS_MEMBERS_MAY_CREATE = True
    page = member.get("/chat/general/").content.decode()
    assert link in page
    assert 'data-hooks-open="members"' in page
    settings.CHAT_WEBHOOKS_MEMBERS_MAY_CREATE = False
    staff = Client()
    staff.force_login(make_user("sam", is_staff=True))
    page = staff.get("/chat/general/").content.decode()
    assert link in page
    assert 'data-hooks-open="staff"' in page


def test_the_page_leaves_a_slot_for_outgoing_hooks(room: Room) -> None:
    client = Client()
    client.force_login(User.objects.create_user("root", is_staff=True))
    page = client.get("/chat/general/integrations/")
    assert "integrations/_outgoing.html" in [t.name for t in page.templates]


def test_the_command_prints_the_hooks_url_alone(room: Room) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "webhook",
        "create",
        "--room",
        "general",
        "--name",
        "Jenkins",
        "--base-url",
        "https://chat.example.com/",
        stdout=out,
        stderr=err,
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("https://chat.example.com/hooks/")
    key = lines[0].rsplit("/", 1)[1]
    assert answer(post_json(key, {"text": "build 7 passed"})) == (200, "ok")
    author = last_message().author
    assert author is not None
    assert author.profile.display_name == "Jenkins"
    assert "Jenkins" in err.getvalue()


# --- two daphne processes, one Redis -----------------------------------------------


def _post_to(base: str, key: str, text: str) -> tuple[int, str, str]:
    request = urllib.request.Request(
        f"{base}/hooks/{key}",
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.headers.get("Set-Cookie") is None
            return resp.status, resp.read().decode(), ""
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("Retry-After") or ""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_is_shared_by_two_processes_and_posts_arrive_live(
    server_env: dict[str, str], log_dir: Path, alice: User
) -> None:
    general = Room.objects.create(slug="general", name="General")
    made = incoming.hook_create(room=general, name="Alerts", actor=None)
    env = {**server_env, "CHAT_WEBHOOK_BURST": "6", "CHAT_WEBHOOK_RATE_PER_SECOND": "0.01"}
    cookie = session_cookie(alice)
    with daphnes(env, log_dir, 2) as (one, two):

        async def scenario() -> list[tuple[int, str, str]]:
            ws = await ws_connect(two, "/ws/chat/general/", cookie)
            try:
                await recv_until(ws, "hello")
                # Alternate between the processes: one bucket, whichever answers.
                results = [
                    await asyncio.to_thread(_post_to, (one, two)[n % 2].http, made.key, f"n{n}")
                    for n in range(10)
                ]
                got = await recv_until(ws, "message")
                assert got["message"]["author_bot"] is True
                assert got["message"]["body"] == "n0"
                return results
            finally:
                await ws.close()

        results = asyncio.run(scenario())
    assert [r[:2] for r in results] == [(200, "ok")] * 6 + [(429, "rate_limited")] * 4
    assert all(int(r[2]) >= 1 for r in results[6:])
    assert Message.objects.count() == 6


def test_docs_list_every_hook_answer_with_its_status() -> None:
    from chat.protocol.codes import HOOK_STATUS
    from tests.servers import ROOT

    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("### Incoming webhooks", 1)[1].split("\n## ", 1)[0]
    rows = {
        (int(status), body)
        for status, body in re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", section, re.MULTILINE)
    }
    assert rows == {(int(status), str(code)) for code, status in HOOK_STATUS.items()}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_slack_keys = st.sampled_from(
    ["text", "attachments", "blocks", "username", "icon_url", "icon_emoji", "channel", "thread"]
)


@fuzz_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=_json | st.dictionaries(_slack_keys, _json, max_size=5))
def test_any_json_gets_one_of_slacks_answers_never_a_500(
    hook: incoming.NewHook, payload: object
) -> None:
    response = post_json(hook.key, payload)
    body = response.content.decode()
    assert body in set(HookAnswer)
    assert response.status_code == HOOK_STATUS[HookAnswer(body)]
    assert body in {"ok", "invalid_payload", "no_text", "channel_not_found"}
