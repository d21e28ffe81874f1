"""The second factor without a browser: the decision after the first factor, the
pending step (never logged in before the code), codes accepted once, recovery codes,
the axes lockout, CHAT_2FA_REQUIRED's gate (the admin included), re-authentication,
an SSO log-in whose provider asserted MFA, and the socket rule."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import connections
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import login_flow, mfa, mfa_rule
from accounts.identity.login_flow import FirstFactor, Step
from accounts.models import SessionRecord
from chat.models import AuditLog, Room
from chat.protocol.codes import CloseCode
from tests.conftest import TEST_PASSWORD, communicator
from tests.identity.mfa_helpers import app_for_secret, code_in, enrol

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
VERIFY = "/accounts/2fa/verify/"
ENROL = "/accounts/2fa/enrol/"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

_address_counter = iter(range(1, 60000))


def fresh_client() -> Client:
    """A client from an address of its own: the per-address lockout starts at zero."""
    n = next(_address_counter)
    return Client(REMOTE_ADDR=f"203.0.{n // 250}.{n % 250 + 1}")


def password_step(client: Client, username: str, next_url: str = "") -> Any:
    data = {"username": username, "password": TEST_PASSWORD}
    return client.post(LOGIN + (f"?next={next_url}" if next_url else ""), data)


def logged_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def events(action: str, reason: str = "") -> list[AuditLog]:
    rows = AuditLog.objects.filter(action=action)
    return list(rows.filter(reason=reason) if reason else rows)


@pytest.mark.parametrize(
    ("asserted", "enrolled", "required", "step"),
    [
        (False, False, False, Step.LOG_IN),
        (False, False, True, Step.ENROL),
        (False, True, False, Step.VERIFY),
        (False, True, True, Step.VERIFY),
        (True, False, False, Step.PASSED),
        (True, False, True, Step.PASSED),
        (True, True, True, Step.PASSED),
    ],
)
def test_the_second_step_after_the_first_factor(
    asserted: bool, enrolled: bool, required: bool, step: Step
) -> None:
    assert login_flow.second_step(asserted=asserted, enrolled=enrolled, required=required) is step


@pytest.mark.parametrize(
    ("rule", "staff", "required"),
    [("none", True, False), ("staff", False, False), ("staff", True, True), ("all", False, True)],
)
def test_who_the_rule_requires(settings: Any, rule: str, staff: bool, required: bool) -> None:
    settings.CHAT_2FA_REQUIRED = rule
    assert mfa_rule.required(User(is_staff=staff)) is required


def test_an_enrolled_user_is_logged_in_only_once_the_code_passes(
    make_user: Callable[..., User],
) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    app, _ = enrol(carol)
    client = fresh_client()
    answer = password_step(client, "carol", next_url="/rooms/")
    assert answer.status_code == 302
    assert answer["Location"] == VERIFY
    assert not logged_in(client)
    assert client.get("/rooms/")["Location"].startswith(LOGIN)  # nothing reachable yet
    assert client.get("/accounts/2fa/")["Location"].startswith(LOGIN)
    # the password alone cannot replace the authenticator
    assert client.get(ENROL)["Location"] == VERIFY
    assert events("login.success") == []

    page = client.get(VERIFY)
    assert "carol" in page.content.decode()
    passed = client.post(VERIFY, {"code": code_in(app, 1)})
    assert passed.status_code == 302
    assert passed["Location"] == "/rooms/"
    assert logged_in(client)
    assert client.session[mfa_rule.PASSED_KEY] is True
    record = SessionRecord.objects.get(user=carol)
    assert (record.method, record.second_factor) == ("password", True)
    assert len(events("login.success")) == 1


def test_a_code_is_accepted_once(make_user: Callable[..., User]) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    app, _ = enrol(carol)
    code = code_in(app, 1)
    first = fresh_client()
    password_step(first, "carol")
    assert first.post(VERIFY, {"code": code}).status_code == 302

    replay = fresh_client()
    password_step(replay, "carol")
    refused = replay.post(VERIFY, {"code": code})
    assert refused.status_code == 400
    assert "already used" in refused.content.decode()
    assert not logged_in(replay)
    failure = events("login.failure", "second_factor")
    assert [(row.actor, row.target_user) for row in failure] == [(None, carol)]
    # the enrolment's own code was used too: it cannot log in either
    assert replay.post(VERIFY, {"code": app.now()}).status_code == 400


def test_a_recovery_code_works_once(make_user: Callable[..., User]) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    _, codes = enrol(carol)
    assert len(set(codes)) == 10
    client = fresh_client()
    password_step(client, "carol")
    assert client.post(VERIFY, {"code": codes[3].upper()}).status_code == 302
    assert logged_in(client)
    assert mfa.recovery_codes_left(carol) == 9
    used = events("mfa.recovery_use")
    assert [(row.actor, row.target_user) for row in used] == [(carol, carol)]

    again = fresh_client()
    password_step(again, "carol")
    assert again.post(VERIFY, {"code": codes[3]}).status_code == 400
    assert not logged_in(again)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_wrong_codes_lock_the_account_like_wrong_passwords(
    make_user: Callable[..., User],
) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    app, _ = enrol(carol)
    client = fresh_client()
    password_step(client, "carol")
    assert client.post(VERIFY, {"code": "000000"}).status_code == 400
    assert client.post(VERIFY, {"code": "111111"}).status_code == 400
    locked = client.post(VERIFY, {"code": "222222"})  # the third: locked
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()
    # the right code no longer helps, from here or from another address
    assert client.post(VERIFY, {"code": code_in(app, 1)}).status_code == 429
    assert not logged_in(client)
    assert password_step(fresh_client(), "carol").status_code == 429
    assert len(events("login.failure", "second_factor")) == 3
    # refused while locked: the right code, then the password from the other address
    assert len(events("login.failure", "locked")) == 2


def test_the_second_step_expires(make_user: Callable[..., User]) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    app, _ = enrol(carol)
    client = fresh_client()
    password_step(client, "carol")
    session = client.session
    pending = session[login_flow.PENDING_KEY]
    pending["at"] = time.time() - login_flow.PENDING_SECONDS - 1
    session[login_flow.PENDING_KEY] = pending
    session.save()
    late = client.post(VERIFY, {"code": code_in(app, 1)})
    assert late["Location"] == LOGIN
    assert not logged_in(client)


def test_required_staff_enrol_before_anything_else_the_admin_included(
    settings: Any, make_user: Callable[..., User]
) -> None:
    settings.CHAT_2FA_REQUIRED = "staff"
    make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    client = fresh_client()
    answer = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": TEST_PASSWORD}
    )
    assert answer["Location"] == ENROL
    assert not logged_in(client)
    assert client.get("/admin/").status_code == 302  # to the log-in: not logged in
    assert client.get("/admin/")["Location"].startswith("/admin/login/")

    page = client.get(ENROL)
    enrolment = page.context["enrolment"]
    assert "<svg" in page.content.decode()
    assert enrolment.secret.replace(" ", "") in page.content.decode().replace(" ", "")
    app = app_for_secret(enrolment.secret)
    wrong = client.post(ENROL, {"code": "123456" if app.now() != "123456" else "654321"})
    assert wrong.status_code == 400
    assert not logged_in(client)
    done = client.post(ENROL, {"code": app.now()})
    assert done["Location"] == "/accounts/2fa/codes/"
    assert logged_in(client)
    shown = client.get("/accounts/2fa/codes/")
    assert len(shown.context["codes"]) == 10
    assert shown.context["next"] == "/admin/"
    assert client.get("/accounts/2fa/codes/").context["codes"] == []  # shown once
    assert client.get("/admin/").status_code == 200
    assert len(events("mfa.enrol")) == 1


def test_a_required_session_that_has_not_passed_reaches_only_the_second_step(
    settings: Any, make_user: Callable[..., User]
) -> None:
    settings.CHAT_2FA_REQUIRED = "staff"
    root = make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    client = fresh_client()
    client.force_login(root)  # a session from before the rule, say
    for path in ("/", "/admin/", "/accounts/settings/", "/api/me/"):
        answer = client.get(path)
        assert (answer.status_code, answer["Location"]) == (302, ENROL), path
    app, _ = enrol(root)
    assert client.get("/admin/")["Location"] == VERIFY
    # it may not replace the authenticator it has not passed
    assert client.get(ENROL)["Location"] == VERIFY
    assert client.post(VERIFY, {"code": code_in(app, 1)}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_rule_does_not_touch_the_others(settings: Any, make_user: Callable[..., User]) -> None:
    settings.CHAT_2FA_REQUIRED = "staff"
    make_user("carol", password=TEST_PASSWORD)
    client = fresh_client()
    assert password_step(client, "carol")["Location"] == "/"
    assert client.get("/rooms/").status_code == 200


def _request_with_session() -> Any:
    request = RequestFactory().get("/accounts/sso/corp/callback/")
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    request.user = AnonymousUser()
    return request


def test_an_sso_log_in_whose_provider_asserted_mfa_counts_as_passed(
    settings: Any, make_user: Callable[..., User]
) -> None:
    settings.CHAT_2FA_REQUIRED = "all"
    carol = make_user("carol")
    enrol(carol)
    asserted = FirstFactor(method="sso", backend=MODEL_BACKEND, provider="corp", mfa_asserted=True)
    request = _request_with_session()
    answer = login_flow.complete(request, carol, asserted, next_url="/rooms/")
    assert answer["Location"] == "/rooms/"
    assert request.session[SESSION_KEY] == str(carol.pk)
    assert request.session[mfa_rule.PASSED_KEY] is True
    record = SessionRecord.objects.get(user=carol)
    assert (record.method, record.provider, record.second_factor) == ("sso", "corp", True)

    plain = FirstFactor(method="sso", backend=MODEL_BACKEND, provider="corp")
    request = _request_with_session()
    answer = login_flow.complete(request, carol, plain, next_url="/rooms/")
    assert answer["Location"] == VERIFY
    assert SESSION_KEY not in request.session


def test_removal_and_new_codes_need_a_fresh_password(make_user: Callable[..., User]) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    app, _ = enrol(carol)
    client = fresh_client()
    password_step(client, "carol")
    client.post(VERIFY, {"code": code_in(app, 1)})
    session = client.session
    session[login_flow.AUTH_AT_KEY] = time.time() - login_flow.REAUTH_SECONDS - 1
    session.save()
    asked = client.post("/accounts/2fa/", {"action": "remove"})
    assert asked["Location"] == "/accounts/2fa/reauth/?next=/accounts/2fa/"
    assert mfa.enrolled(carol)
    wrong = client.post("/accounts/2fa/reauth/", {"password": "nope", "next": "/accounts/2fa/"})
    assert wrong.status_code == 400
    right = client.post(
        "/accounts/2fa/reauth/", {"password": TEST_PASSWORD, "next": "/accounts/2fa/"}
    )
    assert right["Location"] == "/accounts/2fa/"
    renewed = client.post("/accounts/2fa/", {"action": "codes"})
    assert renewed["Location"] == "/accounts/2fa/codes/"
    assert len(client.get("/accounts/2fa/codes/").context["codes"]) == 10
    assert client.post("/accounts/2fa/", {"action": "remove"}).status_code == 302
    assert not mfa.enrolled(carol)
    assert mfa.recovery_codes_left(carol) == 0
    removed = events("mfa.remove")
    assert [(row.actor, row.target_user) for row in removed] == [(carol, carol)]
    # and the next log-in needs no code
    assert password_step(fresh_client(), "carol")["Location"] == "/"


def test_the_settings_page_links_to_two_factor(make_user: Callable[..., User]) -> None:
    client = fresh_client()
    client.force_login(make_user("carol", password=TEST_PASSWORD))
    assert 'href="/accounts/2fa/"' in client.get("/accounts/settings/").content.decode()
    assert "Off" in client.get("/accounts/2fa/").content.decode()


# --- the socket rule --------------------------------------------------------------------


async def _close_code(cookie: str | None, path: str) -> int | None:
    comm = communicator(path, cookie=cookie)
    try:
        connected, _ = await comm.connect()
        if not connected:
            return None
        output = await comm.receive_output(timeout=2)
        return output.get("code") if output["type"] == "websocket.close" else 0
    finally:
        await comm.disconnect()


def _cookie(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.django_db(transaction=True)
async def test_a_socket_never_opens_for_a_session_without_its_second_factor(
    settings: Any, make_user: Callable[..., User]
) -> None:
    settings.CHAT_2FA_REQUIRED = "staff"

    def prepare() -> tuple[str, str, Client, str]:
        Room.objects.create(slug="general", name="General")
        root = make_user("root", password=TEST_PASSWORD, is_staff=True)
        app, _ = enrol(root)
        half = fresh_client()
        password_step(half, "root")  # pending: the password passed, the code not yet
        unpassed = fresh_client()
        unpassed.force_login(root)  # logged in, no second factor
        return _cookie(half), _cookie(unpassed), unpassed, code_in(app, 1)

    half, unpassed_cookie, unpassed, code = await database_sync_to_async(prepare)()
    assert await _close_code(half, "/ws/chat/") == CloseCode.UNAUTHENTICATED
    assert await _close_code(unpassed_cookie, "/ws/chat/") == CloseCode.UNAUTHENTICATED
    assert await _close_code(unpassed_cookie, "/ws/chat/general/") == CloseCode.UNAUTHENTICATED

    def verify() -> int:
        return int(unpassed.post(VERIFY, {"code": code}).status_code)

    assert await database_sync_to_async(verify)() == 302
    comm = communicator("/ws/chat/", cookie=f"sessionid={unpassed.cookies['sessionid'].value}")
    try:
        connected, _ = await comm.connect()
        assert connected
        hello = await comm.receive_json_from(timeout=5)
        assert hello["type"] == "hello"
    finally:
        await comm.disconnect()


def test_a_sign_up_under_rule_all_enrols_before_it_is_logged_in(settings: Any) -> None:
    settings.CHAT_2FA_REQUIRED = "all"
    settings.CHAT_SIGNUP = "open"
    client = fresh_client()
    form = {"username": "newbie", "password1": TEST_PASSWORD, "password2": TEST_PASSWORD}
    answer = client.post("/accounts/signup/", form)
    assert answer["Location"] == ENROL
    assert not logged_in(client)
    assert User.objects.filter(username="newbie").exists()


def test_password_log_in_off_leaves_only_break_glass_staff(
    settings: Any, make_user: Callable[..., User]
) -> None:
    settings.CHAT_PASSWORD_LOGIN = False
    settings.CHAT_BREAK_GLASS_USERS = ["root", "carol"]
    make_user("carol", password=TEST_PASSWORD)  # named, but not staff
    make_user("root", password=TEST_PASSWORD, is_staff=True)
    refused = password_step(fresh_client(), "carol")
    assert refused.status_code == 200
    assert "single sign-on" in refused.content.decode()
    assert password_step(fresh_client(), "root")["Location"] == "/"


def test_staff_remove_a_lost_second_factor_in_the_admin_and_it_is_audited(
    make_user: Callable[..., User],
) -> None:
    root = make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    carol = make_user("carol", password=TEST_PASSWORD)
    enrol(carol)
    client = fresh_client()
    client.force_login(root)
    totp = TOTPDevice.objects.get(user=carol)
    assert client.get("/admin/otp_totp/totpdevice/add/").status_code == 403  # enrolment only
    page = client.get(f"/admin/otp_totp/totpdevice/{totp.pk}/change/").content.decode()
    assert totp.key not in page  # the secret is never shown
    deleted = client.post(f"/admin/otp_totp/totpdevice/{totp.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not mfa.enrolled(carol)
    removed = events("mfa.remove", "admin")
    assert [(row.actor, row.target_user) for row in removed] == [(root, carol)]
    assert password_step(fresh_client(), "carol")["Location"] == "/"


@pytest.mark.django_db(transaction=True)
def test_requests_racing_with_one_code_pass_once(make_user: Callable[..., User]) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    app, codes = enrol(carol)
    barrier = threading.Barrier(6)

    def attempt(code: str) -> str | None:
        try:
            barrier.wait(timeout=10)
            return mfa.second_factor_check(carol, code)
        finally:
            connections.close_all()

    for code in (code_in(app, 1), codes[0]):
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(attempt, [code] * 6))
        assert sum(result is not None for result in results) == 1, results
