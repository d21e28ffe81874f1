"""Accounts (issue #14): the sign-up policy, invitations, `manage.py invite`, password
change and reset, login lockout, profiles in messages and the API, avatars, and the
hooks that end sessions. Hostile inputs (guessed tokens, bombs, long names) each get a
clear answer and change nothing."""

import io
import json
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image

from accounts import avatars, limits, profiles, services
from accounts import selectors as account_selectors
from accounts.models import Invitation, InvitationUse, Profile, SessionRecord
from chat import events, selectors
from chat import services as chat_services
from chat.errors import ChatError
from chat.models import AuditLog, Membership, Room
from chat.protocol.codes import CloseCode
from tests.conftest import TEST_PASSWORD
from tests.servers import ROOT

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"


@pytest.fixture(autouse=True)
def _media_and_limits(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CHAT_SIGNUP = "invite"  # the production default (DJANGO_DEBUG off)
    account_selectors.profile_forget()
    yield
    account_selectors.profile_forget()


_address_counter = iter(range(1, 60000))


def fresh_client(**kwargs: Any) -> Client:
    """A client from an address of its own: the per-address limits start at zero."""
    n = next(_address_counter)
    return Client(REMOTE_ADDR=f"198.51.{n // 250}.{n % 250 + 1}", **kwargs)


def signup_form(username: str, email: str = "") -> dict[str, str]:
    return {
        "username": username,
        "email": email,
        "password1": TEST_PASSWORD,
        "password2": TEST_PASSWORD,
    }


def link_path(secret: str) -> str:
    return f"{SIGNUP}{secret}/"


def staff(make_user: Callable[..., User]) -> User:
    return make_user("root", is_staff=True, is_superuser=True)


class ControlListener:
    """A channel in the control group every hub listens to (the in-memory layer)."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        assert self.layer is not None
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(events.CONTROL_GROUP, self.channel)

    def next_of(self, kind: str, timeout: float = 2.0) -> dict[str, Any]:
        async def receive() -> dict[str, Any]:
            import asyncio

            async def loop() -> dict[str, Any]:
                while True:
                    event: dict[str, Any] = await self.layer.receive(self.channel)
                    if event["type"] == kind:
                        return event

            return await asyncio.wait_for(loop(), timeout)

        return async_to_sync(receive)()


# --- the sign-up policy -----------------------------------------------------------------


def test_invite_only_signup_without_invitation_is_refused_and_creates_nothing() -> None:
    client = fresh_client()
    page = client.get(SIGNUP)
    assert page.status_code == 403
    assert "invitation is needed" in page.content.decode()
    response = client.post(SIGNUP, signup_form("mallory"))
    assert response.status_code == 403
    assert not User.objects.filter(username="mallory").exists()


@override_settings(CHAT_SIGNUP="closed")
def test_closed_signup_refuses_even_with_an_invitation() -> None:
    new = services.invitation_create(creator=None)
    client = fresh_client()
    for path in (SIGNUP, link_path(new.secret)):
        response = client.post(path, signup_form("mallory"))
        assert response.status_code == 403
        assert "created by its administrators" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()


@override_settings(CHAT_SIGNUP="open")
def test_open_signup_needs_no_invitation_and_joins_default_rooms() -> None:
    response = fresh_client().post(SIGNUP, signup_form("newbie", "newbie@example.com"))
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.email == "newbie@example.com"
    assert Membership.objects.filter(user=user, room__slug="lobby").exists()


@pytest.mark.parametrize(
    ("debug", "expected"), [("0", "invite"), ("1", "open")], ids=["production", "first-run"]
)
def test_signup_policy_default_follows_debug(debug: str, expected: str) -> None:
    env = {
        "DJANGO_DEBUG": debug,
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        "PATH": "/usr/bin:/bin",
    }
    code = "import chatsite.settings as s; print(s.CHAT_SIGNUP, s.EMAIL_BACKEND)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == expected
    # First run prints mails to the console; production sends none until EMAIL_URL is set.
    assert out[1].endswith("console.EmailBackend" if debug == "1" else "dummy.EmailBackend")


@pytest.mark.parametrize(
    ("url", "backend", "flag"),
    [
        ("smtp://u:p@mail.example.com:25", "smtp.EmailBackend", None),
        ("smtp+tls://u:p@mail.example.com:587", "smtp.EmailBackend", "EMAIL_USE_TLS"),
        ("smtp+ssl://u:p@mail.example.com:465", "smtp.EmailBackend", "EMAIL_USE_SSL"),
    ],
)
def test_email_url_configures_smtp(url: str, backend: str, flag: str | None) -> None:
    env = {
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        "EMAIL_URL": url,
        "DEFAULT_FROM_EMAIL": "chat@example.com",
        "PATH": "/usr/bin:/bin",
    }
    code = (
        "import chatsite.settings as s; import json; print(json.dumps([s.EMAIL_BACKEND, "
        "s.EMAIL_HOST, s.EMAIL_HOST_USER, s.EMAIL_USE_TLS, s.EMAIL_USE_SSL, "
        "s.DEFAULT_FROM_EMAIL, s.CHAT_EMAIL_CONFIGURED]))"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
    )
    assert out[0].endswith(backend)
    assert out[1:3] == ["mail.example.com", "u"]
    assert out[3] == (flag == "EMAIL_USE_TLS")
    assert out[4] == (flag == "EMAIL_USE_SSL")
    assert out[5:] == ["chat@example.com", True]


# --- invitations ------------------------------------------------------------------------


def test_invitation_signs_up_joins_rooms_and_is_audited(make_user: Callable[..., User]) -> None:
    root = staff(make_user)
    public = Room.objects.create(slug="design", name="Design")
    private = Room.objects.create(slug="secret", name="Secret", is_private=True, created_by=root)
    new = services.invitation_create(creator=root, max_uses=2, note="Dana", rooms=[public, private])
    assert new.invitation.digest != new.secret
    assert len(new.secret) > 40
    client = fresh_client()
    page = client.get(link_path(new.secret))
    assert page.status_code == 200
    assert "You will join: Design, Secret" in page.content.decode()
    response = client.post(link_path(new.secret), signup_form("dana"))
    assert response.status_code == 302
    dana = User.objects.get(username="dana")
    joined = set(Membership.objects.filter(user=dana).values_list("room__slug", flat=True))
    assert joined == {"lobby", "design", "secret"}
    new.invitation.refresh_from_db()
    assert new.invitation.uses == 1
    use = InvitationUse.objects.get(invitation=new.invitation)
    assert (use.username, use.user, use.ip) == ("dana", dana, client.defaults["REMOTE_ADDR"])
    assert AuditLog.objects.filter(action="invitation.create", actor=root).exists()
    assert client.get("/").status_code == 200  # logged in


def test_used_up_expired_and_revoked_links_get_a_clear_page(
    make_user: Callable[..., User],
) -> None:
    root = staff(make_user)
    used = services.invitation_create(creator=root)
    assert fresh_client().post(link_path(used.secret), signup_form("first")).status_code == 302
    expired = services.invitation_create(creator=root)
    Invitation.objects.filter(pk=expired.invitation.pk).update(expires_at=timezone.now())
    revoked = services.invitation_create(creator=root)
    services.invitation_revoke(invitation_id=revoked.invitation.pk, actor=root)
    for new, words in [
        (used, "used as often as it allows"),
        (expired, "has expired"),
        (revoked, "was withdrawn"),
    ]:
        client = fresh_client()
        for response in (
            client.get(link_path(new.secret)),
            client.post(link_path(new.secret), signup_form("second")),
        ):
            assert response.status_code == 403
            assert words in response.content.decode()
            assert "Traceback" not in response.content.decode()
    assert not User.objects.filter(username="second").exists()
    assert AuditLog.objects.filter(action="invitation.revoke").count() == 1


def test_last_use_cannot_be_taken_twice(make_user: Callable[..., User]) -> None:
    new = services.invitation_create(creator=staff(make_user))
    services.user_signup(username="one", password=TEST_PASSWORD, invitation_secret=new.secret)
    with pytest.raises(services.InvitationInvalid) as problem:
        services.user_signup(username="two", password=TEST_PASSWORD, invitation_secret=new.secret)
    assert problem.value.state == "used"
    assert not User.objects.filter(username="two").exists()


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    guess=st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=300),
        st.from_regex(r"inv_[A-Za-z0-9_-]{43}", fullmatch=True),
    )
)
def test_guessed_tokens_get_the_invalid_page_and_create_nothing(guess: str) -> None:
    new = services.invitation_create(creator=None)
    client = fresh_client()
    response = client.post(
        SIGNUP + guess.replace("/", "%2F").replace("?", "%3F").replace("#", "%23") + "/",
        signup_form("guesser"),
    )
    assert response.status_code in (403, 404)  # 404: not a path segment at all
    assert not User.objects.filter(username="guesser").exists()
    new.invitation.refresh_from_db()
    assert new.invitation.uses == 0


@override_settings(CHAT_INVITE_GUESSES_PER_HOUR=3)
def test_guessing_is_rate_limited_per_address_even_for_a_valid_token() -> None:
    new = services.invitation_create(creator=None)
    client = fresh_client()
    for n in range(3):
        assert client.get(link_path(f"inv_wrong{n}")).status_code == 403
    limited = client.get(link_path(new.secret))
    assert limited.status_code == 429
    assert "Too many invitation links" in limited.content.decode()
    assert fresh_client().get(link_path(new.secret)).status_code == 200  # another address


def test_reused_token_after_signup_is_refused(make_user: Callable[..., User]) -> None:
    new = services.invitation_create(creator=staff(make_user))
    client = fresh_client()
    assert client.post(link_path(new.secret), signup_form("once")).status_code == 302
    client.post("/accounts/logout/")
    again = client.post(link_path(new.secret), signup_form("twice"))
    assert again.status_code == 403
    assert not User.objects.filter(username="twice").exists()


def test_room_owners_invite_only_when_allowed_and_only_into_their_rooms(
    make_user: Callable[..., User], settings: Any
) -> None:
    owner, other = make_user("owner"), make_user("other")
    mine = Room.objects.create(slug="mine", name="Mine", created_by=owner, is_private=True)
    theirs = Room.objects.create(slug="theirs", name="Theirs", created_by=other)
    with pytest.raises(ChatError):
        services.invitation_create(creator=owner, rooms=[mine])
    settings.CHAT_INVITE_ROOM_OWNERS = True
    assert services.invitation_create(creator=owner, rooms=[mine]).invitation.pk
    with pytest.raises(Exception, match="Only staff"):
        services.invitation_create(creator=owner, rooms=[mine, theirs])
    with pytest.raises(Exception, match="Only staff"):
        services.invitation_create(creator=owner, rooms=[])


def test_invitations_page_creates_shows_once_and_revokes(make_user: Callable[..., User]) -> None:
    root = staff(make_user)
    Room.objects.create(slug="design", name="Design")
    client = Client()
    client.force_login(root)
    design = Room.objects.get(slug="design")
    page = client.post(
        "/accounts/invitations/",
        {"action": "create", "note": "Eve", "days": "2", "max_uses": "3", "rooms": [design.pk]},
    )
    assert page.status_code == 200
    html = page.content.decode()
    link = html.split('id="new-invitation" class="token" readonly value="', 1)[1].split('"', 1)[0]
    assert link.startswith("http://testserver/accounts/signup/inv_")
    invitation = Invitation.objects.get(note="Eve")
    assert (invitation.max_uses, list(invitation.rooms.all())) == (3, [design])
    assert link.rsplit("/", 2)[-2] not in client.get("/accounts/invitations/").content.decode()
    client.post("/accounts/invitations/", {"action": "revoke", "invitation": invitation.pk})
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    plain = Client()
    plain.force_login(make_user("plain"))
    assert plain.get("/accounts/invitations/").status_code == 403


def test_admin_adds_an_invitation_and_shows_its_link(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(staff(make_user))
    response = client.post(
        "/admin/accounts/invitation/add/",
        {
            "note": "from admin",
            "expires_at_0": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d"),
            "expires_at_1": "12:00:00",
            "max_uses": "1",
            "use_set-TOTAL_FORMS": "0",
            "use_set-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Invitation link (shown only now): http://testserver/accounts/signup/inv_" in html
    secret = html.split("/accounts/signup/", 1)[1].split("/", 1)[0]
    assert services.invitation_check(secret).note == "from admin"


def test_manage_py_invite_prints_one_absolute_link(make_user: Callable[..., User]) -> None:
    Room.objects.create(slug="design", name="Design")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "invite",
        "--base-url",
        "https://chat.example.com/",
        "--uses",
        "2",
        "--room",
        "design",
        stdout=out,
        stderr=err,
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("https://chat.example.com/accounts/signup/inv_")
    path = lines[0].removeprefix("https://chat.example.com")
    assert fresh_client().post(path, signup_form("scripted")).status_code == 302
    assert Membership.objects.filter(user__username="scripted", room__slug="design").exists()


@override_settings(CHAT_SITE_URL="")
def test_manage_py_invite_without_a_site_url_says_what_to_set() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="CHAT_SITE_URL"):
        call_command("invite", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Invitation.objects.exists()


def wait_for_mail(count: int) -> None:
    deadline = time.monotonic() + 5
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.02)


@override_settings(CHAT_SIGNUP_EMAIL_DOMAINS=["example.com"], CHAT_EMAIL_CONFIGURED=True)
def test_allowed_domain_signs_up_through_a_mailed_link() -> None:
    client = fresh_client()
    refused = client.post(SIGNUP, {"email": "eve@evil.example"})
    assert refused.status_code == 403
    assert "Only addresses at @example.com" in refused.content.decode()
    sent = client.post(SIGNUP, {"email": "Dana@Example.com"})
    assert "sign-up link is on its way" in sent.content.decode()
    wait_for_mail(1)
    assert len(mail.outbox) == 1
    link = next(w for w in mail.outbox[0].body.split() if "/accounts/signup/email/" in w)
    path = link.removeprefix("http://testserver")
    form = signup_form("dana", email="someone@evil.example")  # the mailed address wins
    assert client.post(path, form).status_code == 302
    assert User.objects.get(username="dana").email == "Dana@example.com"
    # The link made its account: used again, it makes none.
    again = fresh_client().post(path, signup_form("dana2"))
    assert again.status_code == 403
    assert "already uses this address" in again.content.decode()
    assert not User.objects.filter(username="dana2").exists()
    tampered = path[:-3] + ("x" if path[-3] != "x" else "y") + path[-2:]
    assert fresh_client().get(tampered).status_code == 403


# --- passwords and sessions -------------------------------------------------------------


@override_settings(CHAT_EMAIL_CONFIGURED=True)
def test_password_reset_never_reveals_whether_an_account_exists(
    make_user: Callable[..., User],
) -> None:
    make_user("carol", password=TEST_PASSWORD, email="carol@example.com")
    known = fresh_client().post("/accounts/password_reset/", {"email": "carol@example.com"})
    unknown = fresh_client().post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password_reset/done/"
    wait_for_mail(1)
    assert [message.to for message in mail.outbox] == [["carol@example.com"]]


def test_password_reset_without_email_configured_says_so() -> None:
    page = fresh_client().post("/accounts/password_reset/", {"email": "carol@example.com"})
    assert page.status_code == 200
    assert "cannot send email" in page.content.decode()


@override_settings(CHAT_EMAIL_CONFIGURED=True)
def test_reset_link_sets_the_password_and_ends_every_session(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    carol = make_user("carol", password=TEST_PASSWORD, email="carol@example.com")
    other = Client()
    other.force_login(carol)
    other_key = other.cookies["sessionid"].value
    listener = ControlListener()
    fresh_client().post("/accounts/password_reset/", {"email": "carol@example.com"})
    wait_for_mail(1)
    link = next(w for w in mail.outbox[0].body.split() if "/accounts/reset/" in w)
    client = fresh_client()
    form_page = client.get(link.removeprefix("http://testserver"), follow=True)
    assert "Choose a new password" in form_page.content.decode()
    new_password = "a-new-and-long-passphrase-42"
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            form_page.redirect_chain[-1][0],
            {"new_password1": new_password, "new_password2": new_password},
        )
    assert done.status_code == 302
    carol.refresh_from_db()
    assert carol.check_password(new_password)
    assert other.get("/").status_code == 302  # the other session is gone
    event = listener.next_of("chat.sessions_end")
    assert event["code"] == CloseCode.UNAUTHENTICATED
    assert other_key in event["session_keys"]
    reused = fresh_client().get(link.removeprefix("http://testserver"), follow=True)
    assert "link cannot be used" in reused.content.decode()


def test_password_change_keeps_this_session_and_ends_the_others(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    here, elsewhere = Client(), Client()
    here.force_login(carol)
    elsewhere.force_login(carol)
    listener = ControlListener()
    new_password = "another-long-passphrase-77"
    with django_capture_on_commit_callbacks(execute=True):
        response = here.post(
            "/accounts/password_change/",
            {
                "old_password": TEST_PASSWORD,
                "new_password1": new_password,
                "new_password2": new_password,
            },
        )
    assert response.status_code == 302
    elsewhere_key = elsewhere.cookies["sessionid"].value
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 302
    event = listener.next_of("chat.sessions_end")
    assert event["session_keys"] == [elsewhere_key]
    assert SessionRecord.objects.filter(user=carol).count() == 1


def test_log_out_other_devices(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    carol = make_user("carol")
    here, phone, laptop = Client(), Client(), Client()
    for client in (here, phone, laptop):
        client.force_login(carol)
    page = here.get("/accounts/settings/").content.decode()
    assert "2 other sessions" in page
    listener = ControlListener()
    with django_capture_on_commit_callbacks(execute=True):
        response = here.post("/accounts/settings/", {"action": "sessions"}, follow=True)
    assert "Logged out of 2 other devices" in response.content.decode()
    ended = {phone.cookies["sessionid"].value, laptop.cookies["sessionid"].value}
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 302
    assert here.get("/").status_code == 200
    event = listener.next_of("chat.sessions_end")
    assert set(event["session_keys"]) == ended
    assert not Session.objects.filter(session_key__in=ended).exists()


def test_logout_publishes_its_session_end(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(make_user("carol"))
    key = client.cookies["sessionid"].value
    listener = ControlListener()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/logout/")
    assert listener.next_of("chat.sessions_end")["session_keys"] == [key]
    assert not SessionRecord.objects.filter(session_key=key).exists()


def test_email_can_be_changed_and_removed(make_user: Callable[..., User]) -> None:
    carol = make_user("carol")
    client = Client()
    client.force_login(carol)
    client.post("/accounts/settings/", {"action": "email", "email": "carol@EXAMPLE.com"})
    carol.refresh_from_db()
    assert carol.email == "carol@example.com"
    bad = client.post("/accounts/settings/", {"action": "email", "email": "not an address"})
    assert "Enter a valid email address" in bad.content.decode()
    carol.refresh_from_db()
    assert carol.email == "carol@example.com"
    client.post("/accounts/settings/", {"action": "email", "email": ""})
    carol.refresh_from_db()
    assert carol.email == ""


# --- failed log-ins (django-axes) -------------------------------------------------------


def login(client: Client, username: str, password: str, url: str = "/accounts/login/") -> Any:
    return client.post(url, {"username": username, "password": password})


@override_settings(AXES_FAILURE_LIMIT=3)
def test_an_account_is_locked_after_failures_from_any_address(
    make_user: Callable[..., User],
) -> None:
    make_user("carol", password=TEST_PASSWORD)
    for _ in range(2):
        assert login(fresh_client(), "carol", "wrong").status_code == 200
    assert login(fresh_client(), "carol", "wrong").status_code == 429  # the third: locked
    locked = login(fresh_client(), "carol", TEST_PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()
    assert fresh_client().get("/").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_an_address_is_locked_after_failures_on_any_accounts(
    make_user: Callable[..., User],
) -> None:
    make_user("dave", password=TEST_PASSWORD)
    client = fresh_client()
    for name in ("a", "b", "c"):
        login(client, name, "wrong")
    assert login(client, "dave", TEST_PASSWORD).status_code == 429
    assert login(fresh_client(), "dave", TEST_PASSWORD).status_code == 302  # other address


@override_settings(AXES_FAILURE_LIMIT=3)
def test_successful_logins_never_count(make_user: Callable[..., User]) -> None:
    make_user("carol", password=TEST_PASSWORD)
    client = fresh_client()
    for _ in range(20):
        assert login(client, "carol", TEST_PASSWORD).status_code == 302
        client.post("/accounts/logout/")
    login(client, "carol", "wrong")
    assert login(client, "carol", TEST_PASSWORD).status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_admin_login_is_limited_too(make_user: Callable[..., User]) -> None:
    make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    client = fresh_client()
    for _ in range(3):
        login(client, "root", "wrong", url="/admin/login/")
    locked = login(client, "root", TEST_PASSWORD, url="/admin/login/")
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()


# --- profiles ---------------------------------------------------------------------------


def png(size: tuple[int, int] = (300, 200), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(
        out, format="PNG"
    )
    return out.getvalue()


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header claims billions of pixels."""
    data = png((1, 1))
    ihdr = struct.pack(">II", width, height) + data[24:29]
    chunk = b"IHDR" + ihdr
    return (
        data[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]
    )


def upload(client: Client, data: bytes, name: str = "me.png", display_name: str = "") -> Any:
    return client.post(
        "/accounts/settings/",
        {
            "action": "profile",
            "display_name": display_name,
            "avatar": _file(data, name),
        },
    )


def _file(data: bytes, name: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/png")


def test_display_name_and_avatar_reach_messages_api_and_the_control_group(
    make_user: Callable[..., User], room: Room, django_capture_on_commit_callbacks: Any
) -> None:
    carol = make_user("carol")
    client = Client()
    client.force_login(carol)
    listener = ControlListener()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, png(), display_name="  Carol   Danvers ")
    assert response.status_code == 302
    profile = Profile.objects.get(user=carol)
    assert profile.display_name == "Carol Danvers"
    event = listener.next_of("chat.profile")
    assert event["user"] == {
        "username": "carol",
        "display_name": "Carol Danvers",
        "avatar": f"/api/users/carol/avatar/?v={profile.version}",
        "author_bot": False,
    }
    posted = chat_services.message_post(room_id=room.pk, author=carol, body="hi", client_id="c1")
    listed = selectors.message_list(room_id=room.pk)[-1]
    backlog = selectors.message_backlogs(after={room.pk: 0}, limit=5)[room.pk]["messages"][-1]
    for message in (posted, listed, backlog):
        assert message["author_display_name"] == "Carol Danvers"
        assert message["author_avatar"] == event["user"]["avatar"]
    assert selectors.user_profile(carol.pk) == event["user"]
    api = client.get("/api/users/", {"usernames": "carol,nobody,alice"}).json()
    assert api == [event["user"]]
    avatar = client.get(event["user"]["avatar"])
    assert avatar.status_code == 200
    assert avatar["Content-Type"] == "image/jpeg"
    assert avatar["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in avatar["Content-Security-Policy"]
    assert "immutable" in avatar["Cache-Control"]
    image = Image.open(io.BytesIO(b"".join(avatar.streaming_content)))  # type: ignore[attr-defined]
    assert image.size == (128, 128)
    assert not image.getexif()


def test_system_messages_have_no_author_profile(room: Room) -> None:
    posted = chat_services.message_post_system(room_id=room.pk, body="maintenance at 5")
    listed = selectors.message_list(room_id=room.pk)[-1]
    for message in (posted, listed):
        assert message["author_display_name"] is None
        assert message["author_avatar"] is None


def test_users_without_a_profile_get_good_defaults(make_user: Callable[..., User]) -> None:
    bob = make_user("bob_smith")
    assert selectors.user_profile(bob.pk) == {
        "username": "bob_smith",
        "display_name": "bob_smith",
        "avatar": "/api/users/bob_smith/avatar/?v=0",
        "author_bot": False,
    }
    client = Client()
    client.force_login(bob)
    svg = client.get("/api/users/bob_smith/avatar/?v=0")
    assert svg["Content-Type"].startswith("image/svg+xml")
    assert ">BS</text>" in svg.content.decode()
    assert avatars.colour("bob_smith") in svg.content.decode()


def test_initials_avatar_escapes_the_name(make_user: Callable[..., User]) -> None:
    mallory = make_user("mallory")
    profiles.profile_update(user=mallory, display_name="<s \"x'&")
    client = Client()
    client.force_login(mallory)
    body = client.get("/api/users/mallory/avatar/").content.decode()
    assert "<s" not in body.split("<text", 1)[1]
    assert "&lt;" in body


def test_avatars_and_profiles_are_for_logged_in_users_only(make_user: Callable[..., User]) -> None:
    make_user("carol")
    anonymous = Client()
    assert anonymous.get("/api/users/carol/avatar/").status_code == 401
    assert anonymous.get("/api/users/?usernames=carol").status_code == 401
    assert anonymous.get("/accounts/settings/").status_code == 302


def test_users_endpoint_refuses_too_many_names(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(make_user("carol"))
    names = ",".join(f"u{n}" for n in range(101))
    response = client.get("/api/users/", {"usernames": names})
    assert response.status_code == 400
    assert client.get("/api/users/").status_code == 400


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (b"this is not an image", "me.png", "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "a.svg", ""),
        (bomb_png(7000, 7000), "bomb.png", "pixels"),  # over CHAT_IMAGE_MAX_PIXELS
        (bomb_png(), "huge.png", "not an image"),  # over Pillow's own bomb limit too
        (png()[:60], "cut.png", "not an image"),
    ],
    ids=["text", "svg", "decompression-bomb", "decompression-bomb-huge", "truncated"],
)
def test_hostile_avatars_get_a_clear_error_and_change_nothing(
    make_user: Callable[..., User], data: bytes, name: str, words: str, settings: Any
) -> None:
    carol = make_user("carol")
    profiles.profile_update(user=carol, display_name="Carol")
    before = Profile.objects.get(user=carol)
    client = Client()
    client.force_login(carol)
    response = upload(client, data, name=name, display_name="Changed")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="errorlist' in html
    assert words in html
    after = Profile.objects.get(user=carol)
    assert (after.display_name, after.version, after.avatar.name) == (
        "Carol",
        before.version,
        before.avatar.name,
    )
    media = Path(settings.MEDIA_ROOT) / "avatars"
    assert not media.exists() or not any(media.iterdir())


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(min_size=51, max_size=400).filter(lambda n: len(" ".join(n.split())) > 50))
def test_over_long_display_names_are_refused_and_change_nothing(name: str) -> None:
    user, _ = User.objects.get_or_create(username="longname")
    Profile.objects.update_or_create(user=user, defaults={"display_name": "Before", "version": 1})
    with pytest.raises(ChatError):
        profiles.profile_update(user=user, display_name=name)
    assert Profile.objects.get(user=user).display_name == "Before"
    assert Profile.objects.get(user=user).version == 1


@pytest.mark.parametrize("name", ["a\u202eb", "bell\x07", "zero\u200bwidth", "nul\x00"])
def test_invisible_or_control_characters_are_refused(
    make_user: Callable[..., User], name: str
) -> None:
    carol = make_user("carol")
    client = Client()
    client.force_login(carol)
    response = client.post("/accounts/settings/", {"action": "profile", "display_name": name})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert not Profile.objects.filter(user=carol).exists()


def test_over_long_name_in_the_form_says_the_limit(make_user: Callable[..., User]) -> None:
    client = Client()
    client.force_login(make_user("carol"))
    response = client.post("/accounts/settings/", {"action": "profile", "display_name": "x" * 51})
    assert "at most 50 characters" in response.content.decode()


def test_removing_the_avatar_brings_back_the_initials(make_user: Callable[..., User]) -> None:
    carol = make_user("carol")
    client = Client()
    client.force_login(carol)
    upload(client, png(mode="RGBA"))
    stored = str(Profile.objects.get(user=carol).avatar.name)
    assert stored.endswith(".png")
    client.post("/accounts/settings/", {"action": "profile", "avatar_remove": "on"})
    assert Profile.objects.get(user=carol).avatar.name == ""
    assert client.get("/api/users/carol/avatar/")["Content-Type"].startswith("image/svg+xml")


@pytest.mark.django_db(transaction=True)
async def test_websocket_message_frames_carry_the_authors_profile(
    open_socket: Any, make_user: Callable[..., User]
) -> None:
    def setup() -> tuple[User, Room]:
        carol = make_user("carol")
        profiles.profile_update(user=carol, display_name="Carol D.")
        return carol, Room.objects.create(slug="general", name="General")

    carol, room = await database_sync_to_async(setup)()
    comm = await open_socket(carol, f"/ws/chat/{room.slug}/")
    connected, _ = await comm.connect()
    assert connected
    await comm.receive_json_from()  # hello
    await comm.send_to(
        text_data=json.dumps({"type": "message.send", "body": "hello", "client_id": "c1"})
    )
    for _ in range(2):
        frame = await comm.receive_json_from(timeout=5)
        if frame["type"] == "message":
            break
    assert frame["message"]["author_display_name"] == "Carol D."
    assert frame["message"]["author_avatar"].startswith("/api/users/carol/avatar/?v=")


def test_limits_request_ip_believes_only_trusted_proxies(settings: Any) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert limits.request_ip(request) == "10.0.0.1"
    settings.CHAT_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert limits.request_ip(request) == "1.2.3.4"


def test_admin_edits_a_display_name_through_the_service(make_user: Callable[..., User]) -> None:
    carol = make_user("carol")
    profiles.profile_update(user=carol, display_name="Carol")
    profile = Profile.objects.get(user=carol)
    client = Client()
    client.force_login(staff(make_user))
    url = f"/admin/accounts/profile/{profile.pk}/change/"
    refused = client.post(url, {"display_name": "bell\x07"})
    assert refused.status_code == 200
    assert "control or invisible" in refused.content.decode()
    assert Profile.objects.get(pk=profile.pk).display_name == "Carol"
    assert client.post(url, {"display_name": "Carol Danvers"}).status_code == 302
    changed = Profile.objects.get(pk=profile.pk)
    assert (changed.display_name, changed.version) == ("Carol Danvers", profile.version + 1)
