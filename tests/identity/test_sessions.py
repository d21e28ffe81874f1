"""Your sessions (/accounts/sessions/): each session with its device, address, times and
how it signed in, the current one marked, API tokens as rows; "Sign out" on one ends it
(its socket on another process closes within a second); staff sign sessions out from the
admin; "last seen" is bumped without a query per request or per connect."""

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.identity import sessions, sessions_seen
from accounts.identity.config import OidcProvider
from accounts.models import SessionRecord
from chat import services as chat_services
from chat.models import ApiToken, AuditLog
from chat.protocol.codes import CloseCode
from tests.conftest import TEST_PASSWORD
from tests.servers import Daphne
from tests.test_session_sockets import Browser, close_code, open_all_rooms, still_open

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
ACME = OidcProvider(
    id="acme", name="Acme SSO", issuer="https://sso.example", client_id="c", client_secret="s"
)
CLOSED_WITHIN_SECONDS = 1.0  # the bound
CHECK_SECONDS = 1.0  # CHAT_SESSION_CHECK_SECONDS for the daphnes here


def rows(page: str) -> list[str]:
    return re.findall(r"<tr class=\"(?:session|token)[^\"]*\".*?</tr>", page, re.S)


def logged_in(user: User, agent: str, ip: str = "198.51.100.7") -> Client:
    """Logged in through the log-in page, so the session records the agent and address."""
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    form = {"username": user.get_username(), "password": TEST_PASSWORD}
    assert client.post("/accounts/login/", form).status_code == 302
    return client


@pytest.fixture
def alice_pw(make_user: Callable[..., User]) -> User:
    return make_user("alice", password=TEST_PASSWORD)


@pytest.mark.django_db
@override_settings(CHAT_OIDC_PROVIDERS=[ACME])
def test_the_page_lists_each_session_and_token_with_device_address_and_how_it_signed_in(
    alice_pw: User,
) -> None:
    laptop = logged_in(alice_pw, FIREFOX, "198.51.100.7")
    logged_in(alice_pw, PHONE, "203.0.113.9")
    phone = SessionRecord.objects.get(user=alice_pw, user_agent=PHONE)
    SessionRecord.objects.filter(pk=phone.pk).update(
        method="sso", provider="acme", second_factor=True
    )
    chat_services.token_create(user=alice_pw, name="ci")

    page = laptop.get("/accounts/sessions/").content.decode()
    listed = rows(page)
    assert len(listed) == 3
    current, other, token = listed
    assert "Firefox 128 on Windows" in current
    assert "This device" in current
    assert "198.51.100.7" in current
    assert "Password" in current
    assert 'action="/accounts/logout/"' in current  # the current one signs out as a logout
    assert "Chrome Mobile 131 on Android" in other
    assert "This device" not in other
    assert "203.0.113.9" in other
    assert "Single sign-on (Acme SSO) + second factor" in other
    assert "ci (chat_" in token
    assert "API token" in token
    assert 'href="/accounts/sessions/"' in laptop.get("/accounts/settings/").content.decode()


@pytest.mark.django_db
def test_sign_out_ends_only_that_session_and_never_anothers(
    alice_pw: User, make_user: Callable[..., User]
) -> None:
    laptop = logged_in(alice_pw, FIREFOX)
    phone = logged_in(alice_pw, PHONE)
    bob = make_user("bob", password=TEST_PASSWORD)
    bobs = logged_in(bob, FIREFOX)
    bob_record = SessionRecord.objects.get(user=bob)
    phone_record = SessionRecord.objects.get(user=alice_pw, user_agent=PHONE)

    # Someone else's session is not hers to end: nothing happens.
    response = laptop.post("/accounts/sessions/", {"action": "session", "id": bob_record.pk})
    assert response["Location"] == "/accounts/sessions/?gone=1"
    assert bobs.get("/accounts/sessions/").status_code == 200

    response = laptop.post("/accounts/sessions/", {"action": "session", "id": phone_record.pk})
    assert response["Location"] == "/accounts/sessions/?ended=1"
    assert not Session.objects.filter(session_key=phone_record.session_key).exists()
    assert phone.get("/accounts/sessions/").status_code == 302  # back to the log-in page
    assert laptop.get("/accounts/sessions/").status_code == 200
    entry = AuditLog.objects.get(action="session.sign_out")
    assert (entry.actor, entry.target_user) == (alice_pw, alice_pw)
    assert entry.reason.startswith("by owner: Chrome Mobile 131 on Android")


@pytest.mark.django_db
def test_a_token_rows_sign_out_revokes_the_token(alice_pw: User) -> None:
    laptop = logged_in(alice_pw, FIREFOX)
    token = chat_services.token_create(user=alice_pw, name="ci").token
    response = laptop.post("/accounts/sessions/", {"action": "token", "id": token.pk})
    assert response["Location"] == "/accounts/sessions/?revoked=1"
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert "ci (chat_" not in laptop.get("/accounts/sessions/").content.decode()


@pytest.mark.django_db
def test_sign_out_all_others_keeps_this_device(alice_pw: User) -> None:
    laptop = logged_in(alice_pw, FIREFOX)
    others = [logged_in(alice_pw, PHONE) for _ in range(2)]
    response = laptop.post("/accounts/sessions/", {"action": "others"})
    assert response["Location"] == "/accounts/sessions/?ended=2"
    assert [c.get("/accounts/sessions/").status_code for c in others] == [302, 302]
    assert len(rows(laptop.get("/accounts/sessions/").content.decode())) == 1
    assert AuditLog.objects.filter(action="session.sign_out").count() == 2


@pytest.mark.django_db
def test_sign_out_needs_a_post_with_the_csrf_token(alice_pw: User) -> None:
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=PHONE)
    client.force_login(alice_pw)
    other = logged_in(alice_pw, FIREFOX)
    record = SessionRecord.objects.get(user=alice_pw, user_agent=FIREFOX)
    assert (
        client.post("/accounts/sessions/", {"action": "session", "id": record.pk}).status_code
        == 403
    )
    assert other.get("/accounts/sessions/").status_code == 200


@pytest.mark.django_db
def test_staff_sign_a_users_sessions_out_from_the_admin(
    alice_pw: User, make_user: Callable[..., User]
) -> None:
    logged_in(alice_pw, FIREFOX)
    phone = logged_in(alice_pw, PHONE)
    staff = make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)
    listing = admin.get("/admin/accounts/sessionrecord/?q=alice").content.decode()
    assert "Chrome Mobile 131 on Android" in listing
    records = SessionRecord.objects.filter(user=alice_pw)
    response = admin.post(
        "/admin/accounts/sessionrecord/",
        {"action": "sign_out", "_selected_action": [str(r.pk) for r in records]},
    )
    assert response.status_code == 302
    assert not SessionRecord.objects.filter(user=alice_pw).exists()
    assert phone.get("/accounts/sessions/").status_code == 302
    entries = AuditLog.objects.filter(action="session.sign_out")
    assert {(e.actor, e.target_user) for e in entries} == {(staff, alice_pw)}
    assert entries.count() == 2
    assert all(e.reason.startswith("by staff") for e in entries)


@pytest.mark.django_db
def test_requests_bump_last_seen_at_most_every_five_minutes_without_reading_it(
    alice_pw: User,
) -> None:
    client = logged_in(alice_pw, FIREFOX)  # the log-in's own request marked it seen
    assert sessions_seen.SEEN_AT_KEY in client.session
    record = SessionRecord.objects.get(user=alice_pw)
    SessionRecord.objects.filter(pk=record.pk).update(last_seen_at=None)
    with CaptureQueriesContext(connection) as queries:
        client.get("/accounts/settings/")
    record.refresh_from_db()
    assert record.last_seen_at is None  # within five minutes: not again
    touching = [q["sql"] for q in queries if "accounts_sessionrecord" in q["sql"]]
    assert not any("UPDATE" in sql for sql in touching)
    # Five minutes later (as the session remembers it), one UPDATE again.
    session = client.session
    session[sessions_seen.SEEN_AT_KEY] -= 301
    session.save()
    client.get("/accounts/settings/")
    record.refresh_from_db()
    assert record.last_seen_at is not None


def test_device_describe_reads_common_user_agents() -> None:
    assert sessions.device_describe(FIREFOX) == "Firefox 128 on Windows"
    assert sessions.device_describe("") == "Unknown device"
    assert sessions.device_describe("curl/8.5.0") == "curl 8"


# --- two processes -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_env_extra() -> dict[str, str]:
    return {"CHAT_SESSION_CHECK_SECONDS": str(CHECK_SECONDS)}


class AgentBrowser(Browser):
    def __init__(self, server: Daphne, agent: str) -> None:
        super().__init__(server)
        self.opener.addheaders = [("User-Agent", agent)]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_signing_out_another_device_closes_its_socket_on_the_other_process(
    shared_daphnes: list[Daphne], alice_pw: User
) -> None:
    one, two = shared_daphnes
    laptop = AgentBrowser(one, FIREFOX).log_in("alice")
    phone = AgentBrowser(one, PHONE).log_in("alice")
    page = laptop.get("/accounts/sessions/")
    (phone_row,) = [row for row in rows(page) if "Android" in row]
    phone_id = re.search(r'data-id="(\d+)"', phone_row)
    assert phone_id is not None
    assert "This device" in page

    async def scenario() -> None:
        phones = await open_all_rooms(two, phone.session)
        laptops = await open_all_rooms(two, laptop.session)
        await asyncio.to_thread(
            laptop.post, "/accounts/sessions/", {"action": "session", "id": phone_id[1]}
        )
        assert await close_code(phones, CLOSED_WITHIN_SECONDS) == CloseCode.UNAUTHENTICATED
        assert await still_open(laptops, CHECK_SECONDS * 2.5)
        await laptops.close()

    asyncio.run(scenario())
    entry = AuditLog.objects.get(action="session.sign_out")
    assert (entry.actor, entry.target_user) == (alice_pw, alice_pw)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_open_sockets_bump_last_seen_with_the_session_check(
    shared_daphnes: list[Daphne], alice_pw: User
) -> None:
    one, _ = shared_daphnes
    laptop = AgentBrowser(one, FIREFOX).log_in("alice")
    long_ago = timezone.now() - timedelta(hours=1)
    SessionRecord.objects.filter(user=alice_pw).update(last_seen_at=long_ago)

    async def scenario() -> None:
        ws = await open_all_rooms(one, laptop.session)
        await asyncio.sleep(CHECK_SECONDS * 2.5)
        await ws.close()

    asyncio.run(scenario())
    seen = SessionRecord.objects.get(user=alice_pw).last_seen_at
    assert seen is not None
    assert seen > long_ago + timedelta(minutes=59)
