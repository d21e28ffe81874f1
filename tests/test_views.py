"""Pages: sign-up, log-in/out, room list and creation, room page, admin moderation views."""

import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from chat import services
from chat.models import AuditLog, Message, Room
from tests.conftest import TEST_PASSWORD
from tests.servers import ROOT

pytestmark = pytest.mark.django_db


def test_lobby_exists_after_migrate() -> None:
    assert Room.objects.filter(slug="lobby").exists()


@pytest.mark.parametrize("url", ["/", "/chat/lobby/", "/rooms/new/"])
def test_anonymous_users_are_sent_to_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@override_settings(CHAT_SIGNUP="open")  # invite-only is tests/test_accounts.py's
def test_signup_creates_user_and_logs_in(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "password1": TEST_PASSWORD, "password2": TEST_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert User.objects.filter(username="newbie").exists()
    assert client.get("/").status_code == 200


@override_settings(CHAT_SIGNUP="open")
def test_signup_rejects_mismatched_passwords(client: Client) -> None:
    response = client.post(
        "/accounts/signup/", {"username": "x", "password1": TEST_PASSWORD, "password2": "other"}
    )
    assert response.status_code == 200
    assert not User.objects.filter(username="x").exists()


def test_login_and_logout(client: Client) -> None:
    User.objects.create_user("carol", password=TEST_PASSWORD)
    response = client.post("/accounts/login/", {"username": "carol", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_forms_are_csrf_protected(alice: User) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    response = strict.post("/rooms/new/", {"name": "X", "slug": "x", "topic": ""})
    assert response.status_code == 403
    assert not Room.objects.filter(slug="x").exists()


def test_room_list_and_creation(client: Client, alice: User) -> None:
    client.force_login(alice)
    response = client.post(
        "/rooms/new/", {"name": "Team <b>A</b>", "slug": "team-a", "topic": "<script>x</script>"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/chat/team-a/"
    room = Room.objects.get(slug="team-a")
    assert room.created_by == alice
    page = client.get("/").content.decode()
    assert "Team &lt;b&gt;A&lt;/b&gt;" in page
    assert "<b>A</b>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page


def test_room_creation_rejects_bad_or_taken_slug(client: Client, alice: User) -> None:
    client.force_login(alice)
    assert client.post("/rooms/new/", {"name": "Bad", "slug": "no spaces!"}).status_code == 200
    assert client.post("/rooms/new/", {"name": "Dup", "slug": "lobby"}).status_code == 200
    assert Room.objects.count() == 1


def test_room_page_and_unknown_room(client: Client, alice: User) -> None:
    client.force_login(alice)
    page = client.get("/chat/lobby/")
    assert page.status_code == 200
    assert b'id="room-slug"' in page.content
    assert b'<script type="module" src="/static/chat/main.js">' in page.content
    assert client.get("/chat/nowhere/").status_code == 404


def test_admin_lists_searches_and_filters_messages(client: Client, alice: User) -> None:
    lobby = Room.objects.get(slug="lobby")
    services.message_post(room_id=lobby.pk, author=alice, body="find the needle", client_id="1")
    services.message_post(room_id=lobby.pk, author=alice, body="<b>haystack</b>", client_id="2")
    admin = User.objects.create_superuser("root", password=TEST_PASSWORD)
    client.force_login(admin)
    listing = client.get("/admin/chat/message/").content.decode()
    assert "find the needle" in listing
    assert "&lt;b&gt;haystack&lt;/b&gt;" in listing
    found = client.get("/admin/chat/message/", {"q": "needle"}).content.decode()
    assert "find the needle" in found
    assert "haystack" not in found
    by_author = client.get("/admin/chat/message/", {"q": "alice"}).content.decode()
    assert "needle" in by_author
    assert "haystack" in by_author
    filtered = client.get("/admin/chat/message/", {"room__id__exact": lobby.pk})
    assert filtered.status_code == 200
    assert client.get("/admin/chat/message/add/").status_code == 403
    message = Message.objects.get(body="find the needle")
    response = client.post(
        "/admin/chat/message/", {"action": "hide_messages", "_selected_action": [message.pk]}
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is not None  # hidden, kept, audited
    assert AuditLog.objects.filter(action="message.hide", actor=admin).exists()
    assert client.get(f"/admin/chat/message/{message.pk}/delete/").status_code == 403
    assert client.get("/admin/chat/room/", {"q": "lobby"}).status_code == 200


def test_non_staff_cannot_open_admin(client: Client, alice: User) -> None:
    client.force_login(alice)
    assert client.get("/admin/chat/message/").status_code == 302


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_SECRET_KEY": "", "DJANGO_ALLOWED_HOSTS": "x"}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": "k", "DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS is not set"),
        (
            {"DJANGO_SECRET_KEY": "k", "DJANGO_ALLOWED_HOSTS": "x", "DATABASE_URL": "nope://"},
            "DATABASE_URL",
        ),
    ],
)
def test_missing_production_setting_fails_at_start(env: dict[str, str], message: str) -> None:
    full = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_browse_lists_rooms_with_member_counts_and_joins_and_leaves(
    client: Client, alice: User, bob: User
) -> None:
    design = services.room_create(slug="design", name="Design", topic="", creator=bob)
    secret = services.room_create(
        slug="secret", name="Secret", topic="", creator=bob, is_private=True
    )
    services.dm_open(user=alice, other=bob)
    client.force_login(alice)
    page = client.get("/rooms/").content.decode()
    assert "Design" in page
    assert "Secret" not in page
    assert "alice &amp; bob" not in page
    assert 'aria-label="Join Design"' in page
    response = client.post("/rooms/design/join/")
    assert response.status_code == 302
    assert response["Location"] == "/chat/design/"
    assert design.memberships.filter(user=alice).exists()
    page = client.get("/rooms/").content.decode()
    assert 'aria-label="Leave Design"' in page
    assert client.post("/rooms/design/leave/")["Location"] == "/rooms/"
    assert not design.memberships.filter(user=alice).exists()
    refused = client.post(f"/rooms/{secret.slug}/join/")
    assert refused.status_code == 400
    assert "You have no access to this room." in refused.content.decode()
    assert not secret.memberships.filter(user=alice).exists()
    assert client.get("/rooms/design/join/").status_code == 405


def test_browse_counts_members(client: Client, alice: User, bob: User) -> None:
    design = services.room_create(slug="design", name="Design", topic="", creator=bob)
    services.room_join(user=alice, slug=design.slug)
    client.force_login(alice)
    rows = client.get("/rooms/").content.decode().split("<tr>")
    design_row = next(row for row in rows if "Design" in row)
    assert '<td class="num" data-label="Members">2</td>' in design_row


def test_browse_search_keeps_rooms_whose_name_or_topic_matches(
    client: Client, alice: User, bob: User
) -> None:
    services.room_create(slug="design", name="Design", topic="Pixels and words", creator=bob)
    services.room_create(slug="ops", name="Ops", topic="Servers and DESIGN reviews", creator=bob)
    services.room_create(slug="random", name="Random", topic="", creator=bob)
    client.force_login(alice)
    page = client.get("/rooms/", {"q": "  design "}).content.decode()
    assert "/chat/design/" in page
    assert "/chat/ops/" in page  # its topic matches, whatever the case
    assert "/chat/random/" not in page
    assert 'value="design"' in page  # the box keeps what was searched
    assert "2 rooms matching" in page
    assert "Pixels and words" in page  # topics are shown
    nothing = client.get("/rooms/", {"q": "zzz"}).content.decode()
    assert "No room matches" in nothing
    assert "/chat/design/" not in nothing
    everything = client.get("/rooms/", {"q": ""}).content.decode()
    assert all(f"/chat/{slug}/" in everything for slug in ("design", "ops", "random"))


def test_browse_search_never_shows_a_private_room_of_others(
    client: Client, alice: User, bob: User
) -> None:
    services.room_create(
        slug="secret", name="Secret design", topic="", creator=bob, is_private=True
    )
    client.force_login(alice)
    assert "/chat/secret/" not in client.get("/rooms/", {"q": "design"}).content.decode()
