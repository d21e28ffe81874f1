"""Two-factor authentication in Chromium against a real daphne, codes computed as an
authenticator app does (pyotp, from the secret the page shows): a staff account under
CHAT_2FA_REQUIRED=staff cannot reach the admin until it enrols; later log-ins ask for a
code, refuse a replayed one, take a recovery code once; a half-logged-in session's
socket is refused; wrong codes lock the account like wrong passwords."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from chat.models import Room
from chat.protocol.codes import CloseCode
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import fresh_page, launch_chromium, open_room
from tests.identity.mfa_helpers import app_for_secret, code_in, enrol
from tests.servers import daphnes

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A socket opened from the page itself: the code it was closed with.
SOCKET_CLOSE_CODE = """() => new Promise((resolve) => {
  const ws = new WebSocket(`ws://${location.host}/ws/chat/`);
  ws.onclose = (event) => resolve(event.code);
  setTimeout(() => resolve(-1), 5000);
})"""


def password_step(page: Page, username: str, path: str = "/accounts/login/") -> None:
    page.goto(path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def second_step(page: Page, code: str) -> None:
    page.fill("input[name=code]", code)
    with page.expect_navigation():
        page.click("#mfa-verify-form button[type=submit]")


@pytest.mark.timeout(180)
def test_staff_enrol_before_the_admin_then_log_in_with_codes_once(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True)
    Room.objects.create(slug="general", name="General")
    env = {**server_env, "CHAT_2FA_REQUIRED": "staff"}
    errors: list[str] = []
    with daphnes(env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        page = fresh_page(browser, server.http, errors)
        page.goto("/admin/")
        assert "/admin/login/" in page.url  # the admin's log-in is ours
        password_step(page, "root", page.url.removeprefix(server.http))
        assert page.url.endswith("/accounts/2fa/enrol/")
        expect(page.locator("#mfa-required")).to_be_visible()
        expect(page.locator("#mfa-qr svg")).to_be_visible()

        # Nothing else is reachable before enrolment, the admin included.
        page.goto("/admin/")
        expect(page.locator("input[name=password]")).to_be_visible()
        assert page.locator("#site-name").count() == 0
        page.goto("/chat/general/")
        assert "/accounts/login/" in page.url

        page.goto("/accounts/2fa/enrol/")
        app = app_for_secret(page.locator("#mfa-secret").inner_text())
        enrolment_code = app.now()
        page.fill("input[name=code]", enrolment_code)
        with page.expect_navigation():
            page.click("#mfa-enrol-form button[type=submit]")
        assert page.url.endswith("/accounts/2fa/codes/")
        codes = page.locator("#mfa-recovery-codes li").all_inner_texts()
        assert len(set(codes)) == 10
        with page.expect_navigation():
            page.click("#mfa-continue")
        assert page.url.endswith("/admin/")
        expect(page.locator("#site-name")).to_be_visible()
        page.reload()
        page.goto("/accounts/2fa/codes/")
        expect(page.locator("#mfa-codes-shown")).to_be_visible()  # shown once
        open_room(page, "general")

        # Another device: the password, then a code; the enrolment's code was used.
        other = fresh_page(browser, server.http, errors)
        password_step(other, "root")
        assert other.url.endswith("/accounts/2fa/verify/")
        assert other.evaluate(SOCKET_CLOSE_CODE) == CloseCode.UNAUTHENTICATED  # half in
        second_step(other, enrolment_code)
        expect(other.locator("#id_code_error, .errorlist")).to_contain_text("already used")
        second_step(other, code_in(app, 1))
        assert other.url.rstrip("/") == server.http
        open_room(other, "general")

        # A recovery code logs in once.
        third = fresh_page(browser, server.http, errors)
        password_step(third, "root")
        second_step(third, codes[0])
        assert third.url.rstrip("/") == server.http
        fourth = fresh_page(browser, server.http, errors)
        password_step(fourth, "root")
        second_step(fourth, codes[0])
        assert fourth.url.endswith("/accounts/2fa/verify/")
        expect(fourth.locator(".errorlist")).to_contain_text("not right")
        assert fourth.evaluate(SOCKET_CLOSE_CODE) == CloseCode.UNAUTHENTICATED
    assert errors == []


@pytest.mark.timeout(120)
def test_wrong_codes_lock_the_account_in_the_browser(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    carol = make_user("carol", password=TEST_PASSWORD)
    app, _ = enrol(carol)
    env = {**server_env, "CHAT_LOGIN_FAILURE_LIMIT": "3"}
    errors: list[str] = []
    with daphnes(env, log_dir, 1) as (server,), launch_chromium(chromium_path) as browser:
        page = fresh_page(browser, server.http, errors)
        password_step(page, "carol")
        assert page.url.endswith("/accounts/2fa/verify/")
        for wrong in ("000000", "111111"):
            second_step(page, wrong)
            expect(page.locator(".errorlist")).to_contain_text("not right")
        second_step(page, "222222")
        expect(page.locator("#locked-out")).to_be_visible()
        page.goto("/accounts/2fa/verify/")
        expect(page.locator("#locked-out")).to_be_visible()  # the right code would not help
        again = fresh_page(browser, server.http, errors)
        password_step(again, "carol")
        expect(again.locator("#locked-out")).to_be_visible()  # nor the password
        assert code_in(app, 1)  # the app still works; the account waits out the cool-off
    assert errors == []
