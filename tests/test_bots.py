"""Bot accounts: made by staff (command, admin) with an API token and no password,
refused at every log-in, and revoked whole when deactivated, whatever path does it."""

import io
import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import Profile
from chat import services
from chat.models import ApiToken, Room
from integrations import bots, incoming
from integrations.models import IncomingWebhook, OutgoingWebhook
from tests.conftest import TEST_PASSWORD
from tests.hooks_client import hook_post
from tests.test_accounts import png

# transaction=True: the hook view is async (read threads, the database thread), and
# sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def bearer(secret: str) -> Client:
    return Client(headers={"authorization": f"Bearer {secret}"})


def make_bot(username: str = "deploybot") -> tuple[User, str]:
    return bots.bot_create(username=username, display_name="Deploy", owner=None)


def test_the_command_prints_a_working_token_alone(
    make_user: Callable[..., User], room: Room
) -> None:
    make_user("alice")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "bot",
        "create",
        "deploybot",
        "--display-name",
        "Deploy Bot",
        "--owner",
        "alice",
        stdout=out,
        stderr=err,
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("chat_")
    bot = User.objects.get(username="deploybot")
    assert bot.profile.is_bot
    assert bot.profile.display_name == "Deploy Bot"
    assert bot.profile.bot_owner is not None
    assert bot.profile.bot_owner.username == "alice"
    assert not bot.has_usable_password()
    assert not bot.is_staff
    posted = bearer(lines[0]).post(
        "/api/rooms/general/messages/",
        data=json.dumps({"body": "release 1.2 is out"}),
        content_type="application/json",
    )
    assert posted.status_code == 201
    assert posted.json()["author_bot"] is True


def test_the_command_refuses_a_taken_name_and_an_unknown_owner() -> None:
    make_bot()
    with pytest.raises(CommandError, match="taken"):
        call_command("bot", "create", "DeployBot", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="No such user"):
        call_command(
            "bot",
            "create",
            "other",
            "--owner",
            "nobody",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


def test_a_bot_never_logs_in_even_with_a_password(client: Client) -> None:
    bot, _ = make_bot()
    bot.set_password(TEST_PASSWORD)  # as staff could, by mistake, in the admin
    bot.save()
    page = client.post(
        "/accounts/login/", {"username": "deploybot", "password": TEST_PASSWORD}, follow=False
    )
    assert page.status_code == 200  # the form again, not a redirect
    assert "sessionid" not in client.cookies
    # A person with the same password logs in as before.
    User.objects.create_user("person", password=TEST_PASSWORD)
    person = Client()
    page = person.post("/accounts/login/", {"username": "person", "password": TEST_PASSWORD})
    assert page.status_code == 302
    assert "sessionid" in person.cookies


def test_a_bot_cannot_enter_the_admin(make_user: Callable[..., User]) -> None:
    bot, _ = make_bot()
    bot.is_staff = True  # even if someone made it staff
    bot.set_password(TEST_PASSWORD)
    bot.save()
    admin = Client()
    admin.post("/admin/login/", {"username": "deploybot", "password": TEST_PASSWORD})
    assert admin.get("/admin/").status_code == 302  # back to the login page


def _outgoing_for(bot: User, room: Room) -> OutgoingWebhook:
    room.outgoing_hooks = 1
    room.save(update_fields=["outgoing_hooks"])
    return OutgoingWebhook.objects.create(
        name="echo", room=room, bot=bot, url="https://bot.example/hook", secret="s"
    )


@pytest.mark.parametrize("path", ["service", "admin_checkbox", "admin_action"])
def test_deactivating_a_bot_revokes_its_tokens_and_hooks_at_once(
    path: str, room: Room, make_user: Callable[..., User]
) -> None:
    staff = make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    made = incoming.hook_create(room=room, name="Alerts", actor=None)
    bot = made.hook.bot
    secret = services.token_create(user=bot, name="extra").secret
    outgoing = _outgoing_for(bot, Room.objects.create(slug="ops", name="Ops"))
    assert bearer(secret).get("/api/rooms/").status_code == 200
    if path == "service":
        bots.bot_deactivate(bot=bot, actor=staff)
    else:
        admin = Client()
        admin.force_login(staff)
        if path == "admin_checkbox":
            page = admin.get(f"/admin/auth/user/{bot.pk}/change/")
            form = page.context["adminform"].form
            data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
            data.update(
                {
                    "is_active": "",
                    "date_joined_0": "2026-01-01",
                    "date_joined_1": "00:00:00",
                    "last_login_0": "",
                    "last_login_1": "",
                    "groups": [],
                    "user_permissions": [],
                }
            )
            data = {k: v for k, v in data.items() if k != "is_active"}
            response = admin.post(f"/admin/auth/user/{bot.pk}/change/", data)
            assert response.status_code == 302, response.content[:2000]
        else:
            admin.post(
                "/admin/auth/user/",
                {"action": "deactivate_users", "_selected_action": [str(bot.pk)]},
            )
    bot.refresh_from_db()
    assert not bot.is_active
    assert not ApiToken.objects.filter(user=bot).exists()
    assert bearer(secret).get("/api/rooms/").status_code == 401
    assert IncomingWebhook.objects.get().revoked_at is not None
    outgoing.refresh_from_db()
    assert not outgoing.enabled
    assert outgoing.disabled_reason
    assert Room.objects.get(slug="ops").outgoing_hooks == 0
    refused = hook_post(made.key, '{"text": "hi"}')
    assert (refused.status_code, refused.content) == (403, b"action_prohibited")


def test_a_person_deactivated_keeps_nothing_of_a_bots_rules(
    make_user: Callable[..., User],
) -> None:
    person = make_user("alice", password=TEST_PASSWORD)
    secret = services.token_create(user=person, name="t").secret
    person.is_active = False
    person.save()
    # Not a bot: its token row stays (inactive users' tokens are refused by the lookup).
    assert ApiToken.objects.filter(user=person).exists()
    assert bearer(secret).get("/api/rooms/").status_code == 401


def test_staff_make_a_bot_and_a_hook_in_the_admin(
    room: Room, make_user: Callable[..., User]
) -> None:
    staff = make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    page = admin.post(
        "/admin/integrations/botaccount/add/",
        {"username": "grafana", "display_name": "Grafana", "owner": str(staff.pk)},
    )
    assert page.status_code == 200, page.content[:2000]
    token = page.context["secret"]
    assert token.startswith("chat_")
    assert b"not shown again" in page.content
    assert bearer(token).get("/api/rooms/").status_code == 200
    assert User.objects.get(username="grafana").profile.bot_owner == staff
    listed = admin.get("/admin/integrations/botaccount/")
    assert b"grafana" in listed.content
    assert b'href="/admin/integrations/botaccount/%d/change/' % staff.pk not in listed.content

    ops = Room.objects.create(slug="ops", name="Ops", is_private=True)
    page = admin.post(
        "/admin/integrations/incomingwebhook/add/",
        {"name": "Sentry", "room": str(room.pk), "other_rooms": [str(ops.pk)]},
    )
    assert page.status_code == 200, page.content[:2000]
    url: str = page.context["secret"]
    assert url.startswith("http://testserver/hooks/")
    hook = IncomingWebhook.objects.get(name="Sentry")
    assert list(hook.other_rooms.all()) == [ops]
    key = url.rsplit("/", 1)[1]
    response = hook_post(key, '{"text": "boom", "channel": "#ops"}')
    assert response.content == b"ok"  # its bot was made a member of the private room
    for name in ("outgoingwebhook", "delivery", "slashcommand", "commandresponse"):
        assert admin.get(f"/admin/integrations/{name}/").status_code == 200


def test_hook_bots_are_named_after_their_hooks(room: Room) -> None:
    first = incoming.hook_create(room=room, name="Uptime Kuma", actor=None).hook.bot
    second = incoming.hook_create(room=room, name="Uptime Kuma", actor=None).hook.bot
    assert first.username == "hook-uptime-kuma"
    assert second.username == "hook-uptime-kuma-2"
    assert first.profile.display_name == "Uptime Kuma"
    assert first.profile.is_bot
    assert not first.has_usable_password()


def test_unticking_active_on_the_bots_admin_page_revokes(
    room: Room, make_user: Callable[..., User]
) -> None:
    staff = make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    bot, secret = make_bot()
    admin = Client()
    admin.force_login(staff)
    response = admin.post(f"/admin/integrations/botaccount/{bot.pk}/change/", {})
    assert response.status_code == 302
    bot.refresh_from_db()
    assert not bot.is_active
    assert bearer(secret).get("/api/rooms/").status_code == 401
    assert not ApiToken.objects.filter(user=bot).exists()


def test_the_owner_manages_a_bots_name_tokens_and_life_on_its_page(
    make_user: Callable[..., User],
) -> None:
    owner, other = make_user("olga"), make_user("pete")
    bot, first = bots.bot_create(username="deploybot", display_name="Deploy", owner=owner)
    bots.bot_create(username="otherbot", display_name="Other", owner=other)
    page = Client()
    page.force_login(owner)
    listing = page.get("/settings/bots/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "@deploybot" in html
    assert "@otherbot" not in html  # only the bots one owns (staff see every bot)

    renamed = page.post("/settings/bots/", {"bot": bot.pk, "action": "look", "display_name": "CI"})
    assert renamed.status_code == 302
    assert Profile.objects.get(user=bot).display_name == "CI"
    upload = SimpleUploadedFile("ci.png", png(), content_type="image/png")
    page.post(
        "/settings/bots/", {"bot": bot.pk, "action": "look", "display_name": "CI", "avatar": upload}
    )
    assert Profile.objects.get(user=bot).avatar.name  # the bot's own avatar now

    made = page.post("/settings/bots/", {"bot": bot.pk, "action": "token", "name": "ci"})
    secret = made.context["created"].secret
    assert secret in made.content.decode()
    assert bearer(secret).get("/api/rooms/").status_code == 200
    token = ApiToken.objects.get(user=bot, name="ci")
    page.post("/settings/bots/", {"bot": bot.pk, "action": "revoke", "token": token.pk})
    assert bearer(secret).get("/api/rooms/").status_code == 401

    # Someone else's bot is not found, whatever the form says.
    stranger = Client()
    stranger.force_login(other)
    assert (
        stranger.post("/settings/bots/", {"bot": bot.pk, "action": "deactivate"}).status_code == 404
    )
    bot.refresh_from_db()
    assert bot.is_active

    page.post("/settings/bots/", {"bot": bot.pk, "action": "deactivate"})
    bot.refresh_from_db()
    assert not bot.is_active
    assert bearer(first).get("/api/rooms/").status_code == 401
    assert not ApiToken.objects.filter(user=bot).exists()
