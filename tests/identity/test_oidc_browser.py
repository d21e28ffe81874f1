"""Single sign-on in Chromium against a real OpenID Provider (tests/identity/op/, its
own process and database on loopback) and a real daphne: the first log-in creates the
account, the next is matched by `sub` (name and email refreshed), a verified address
links an existing account and an unverified one does not take it over, an `amr` with
mfa marks the session, tampered state, nonce and signature are refused, a provider that
does not answer gives a clear page, and an invitation travels through the round trip."""

import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, Request, expect

from accounts import services
from accounts.models import InvitationUse, SessionRecord, SsoIdentity
from chat.models import AuditLog, Membership, Room
from tests.e2e import conftest as e2e_conftest
from tests.e2e.browser import fresh_page, launch_chromium
from tests.identity.op.server import OpenIdProvider, openid_provider
from tests.servers import Daphne, free_port, start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.slow]

chromium_path = e2e_conftest.chromium_path  # the browser tests' fixture, for this folder

OP_PASSWORD = "provider-password-42"

OP_USERS: list[dict[str, Any]] = [
    {
        "username": "olivia",
        "first_name": "Olivia",
        "last_name": "Ops",
        "email": "olivia@corp.example",
    },
    {
        "username": "victor",
        "first_name": "Victor",
        "last_name": "V",
        "email": "victor@corp.example",
    },
    # Claims alice's address without the provider vouching for it.
    {"username": "mallory", "email": "alice@corp.example", "groups": ["email-unverified"]},
    {"username": "mia", "first_name": "Mia", "email": "mia@corp.example", "groups": ["mfa"]},
    {"username": "dora", "email": "dora@corp.example"},
    {"username": "otto", "email": "otto@other.example"},
    {"username": "ivan", "email": "ivan@other.example"},
    {"username": "tess", "email": "tess@corp.example"},
]


@pytest.fixture(scope="module")
def chat_port() -> int:
    """The chat's port, known before the provider starts: its redirect URI names it."""
    return free_port()


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory, chat_port: int) -> Iterator[OpenIdProvider]:
    users = [{**user, "password": OP_PASSWORD} for user in OP_USERS]
    callback = f"http://127.0.0.1:{chat_port}/accounts/sso/test/callback/"
    with openid_provider(
        tmp_path_factory.mktemp("op"), redirect_uris=[callback], users=users
    ) as provider:
        yield provider


@contextmanager
def chat(
    server_env: dict[str, str], log_dir: Path, port: int, op: OpenIdProvider, **extra: str
) -> Iterator[Daphne]:
    # A second provider nobody answers for: the "not answering" page.
    down = {**op.provider_setting("down", "Down ID"), "issuer": f"http://127.0.0.1:{free_port()}"}
    env = {
        **server_env,
        "CHAT_OIDC_PROVIDERS": json.dumps([op.provider_setting(), down]),
        **extra,
    }
    server = start_daphne(env, log_dir, "chat", port)
    try:
        yield server
    finally:
        server.stop()


def sso(page: Page, op: OpenIdProvider, username: str, *, start: str = "/accounts/login/") -> None:
    """Press "Log in with Test ID" on `start` and sign in at the provider (unless its
    session in this browser is still open); wait until back at the chat."""
    page.goto(start)
    chat_url = page.url.split("/accounts/")[0]
    page.click("#sso-test")
    page.wait_for_url(lambda url: url.startswith(f"{op.url}/login/") or url.startswith(chat_url))
    if page.url.startswith(f"{op.url}/login/"):
        page.fill("#id_username", username)
        page.fill("#id_password", OP_PASSWORD)
        page.click("#op-login button[type=submit]")
    page.wait_for_url(lambda url: url.startswith(chat_url))
    page.wait_for_load_state()


def landed_in_chat(page: Page, base_url: str) -> None:
    expect(page.locator("#sso-problem")).to_have_count(0)
    assert urllib.parse.urlsplit(page.url).path == "/", page.url
    assert page.url.startswith(base_url)


@pytest.mark.timeout(180)
def test_first_sso_log_in_creates_the_account_and_the_next_matches_by_sub(
    server_env: dict[str, str],
    log_dir: Path,
    chat_port: int,
    op: OpenIdProvider,
    chromium_path: Path,
) -> None:
    errors: list[str] = []
    authorize_urls: list[str] = []

    def seen(request: Request) -> None:
        if request.url.startswith(f"{op.issuer}/authorize"):
            authorize_urls.append(request.url)

    with (
        chat(server_env, log_dir, chat_port, op, CHAT_SIGNUP="open") as server,
        launch_chromium(chromium_path) as browser,
    ):
        first = fresh_page(browser, server.http, errors)
        first.on("request", seen)
        first.goto("/accounts/login/")
        expect(first.locator("#sso-test")).to_have_text("Log in with Test ID")
        expect(first.locator("#sso-down")).to_have_text("Log in with Down ID")
        sso(first, op, "olivia")
        landed_in_chat(first, server.http)

        # Her IT department renames her and moves her address; she logs in elsewhere.
        op.control(
            user="olivia", first_name="Olive", last_name="Opsworth", email="olive@corp.example"
        )
        second = fresh_page(browser, server.http, errors)
        sso(second, op, "olivia")
        landed_in_chat(second, server.http)

        mfa = fresh_page(browser, server.http, errors)
        sso(mfa, op, "mia")
        landed_in_chat(mfa, server.http)
    assert errors == []

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize_urls[0]).query)
    assert query["code_challenge_method"] == ["S256"]  # PKCE
    assert all(query[name][0] for name in ("code_challenge", "nonce", "state"))
    assert query["response_type"] == ["code"]

    olivia = User.objects.get(username="olivia")  # one account, found again by sub
    assert not olivia.has_usable_password()
    assert (olivia.first_name, olivia.last_name, olivia.email) == (
        "Olive",
        "Opsworth",
        "olive@corp.example",
    )
    assert olivia.profile.display_name == "Olive Opsworth"
    identity = SsoIdentity.objects.get(user=olivia)
    assert identity.provider == "test"
    assert identity.last_login is not None
    sessions = SessionRecord.objects.filter(user=olivia)
    assert sessions.count() == 2
    assert {(s.method, s.provider, s.second_factor) for s in sessions} == {("sso", "test", False)}
    mia_session = SessionRecord.objects.get(user__username="mia")
    assert (mia_session.method, mia_session.second_factor) == ("sso", True)  # amr: mfa
    assert AuditLog.objects.filter(action="login.success", target_user=olivia).count() == 2
    assert AuditLog.objects.filter(action="email.change", target_user=olivia).count() == 1


@pytest.mark.timeout(180)
def test_a_verified_address_links_its_account_and_an_unverified_one_does_not(
    server_env: dict[str, str],
    log_dir: Path,
    chat_port: int,
    op: OpenIdProvider,
    chromium_path: Path,
    make_user: Callable[..., User],
) -> None:
    alice = make_user("alice", password="alice-own-password-1", email="alice@corp.example")
    victor = make_user(
        "victor.local", password="victor-own-password-1", email="Victor@corp.example"
    )
    errors: list[str] = []
    with (
        chat(server_env, log_dir, chat_port, op, CHAT_SIGNUP="open") as server,
        launch_chromium(chromium_path) as browser,
    ):
        page = fresh_page(browser, server.http, errors)
        sso(page, op, "mallory")
        landed_in_chat(page, server.http)
        page = fresh_page(browser, server.http, errors)
        sso(page, op, "victor")
        landed_in_chat(page, server.http)
    assert errors == []

    assert not SsoIdentity.objects.filter(user=alice).exists()
    assert not SessionRecord.objects.filter(user=alice).exists()
    mallory = User.objects.get(sso_identities__provider="test", username="mallory")
    assert mallory.email == ""  # the address stays alice's
    alice.refresh_from_db()
    assert alice.email == "alice@corp.example"

    assert SsoIdentity.objects.get(user=victor).provider == "test"
    assert SessionRecord.objects.get(user=victor).method == "sso"
    link = AuditLog.objects.get(action="sso.link")
    assert (link.actor, link.target_user, link.reason) == (victor, victor, "test")
    assert not User.objects.filter(username="victor").exists()  # no second account


@pytest.mark.timeout(180)
def test_tampered_state_nonce_and_signature_are_refused_and_a_down_provider_is_explained(
    server_env: dict[str, str],
    log_dir: Path,
    chat_port: int,
    op: OpenIdProvider,
    chromium_path: Path,
) -> None:
    errors: list[str] = []

    def refused(page: Page) -> None:
        expect(page.locator("#sso-problem")).to_contain_text("could not be verified")
        assert "/accounts/sso/test/callback/" in page.url

    def callback_held(page: Page) -> str:
        """Log in at the provider, which (hold) shows its answer as a link."""
        page.goto("/accounts/login/")
        page.click("#sso-test")
        if page.url.startswith(f"{op.url}/login/"):
            page.fill("#id_username", "tess")
            page.fill("#id_password", OP_PASSWORD)
            page.click("#op-login button[type=submit]")
        href = page.locator("#continue").get_attribute("href")
        assert href is not None
        return href

    with (
        chat(server_env, log_dir, chat_port, op, CHAT_SIGNUP="open") as server,
        launch_chromium(chromium_path) as browser,
    ):
        op.control(hold="1")
        try:
            # state: tess's answer opened in another browser (a log-in CSRF), then in
            # hers with its state altered.
            page = fresh_page(browser, server.http, errors)
            callback = callback_held(page)
            victim = fresh_page(browser, server.http, errors)
            victim.goto(callback)
            refused(victim)
            page.goto(re.sub(r"([?&]state=)[^&]*", r"\g<1>forged", callback))
            refused(page)
        finally:
            op.control(hold="")

        # nonce: a token minted for another log-in, properly signed.
        op.control(nonce="another-log-in")
        try:
            sso(fresh_page(browser, server.http, errors), op, "tess")
        finally:
            op.control(nonce="")
        refused(browser.contexts[-1].pages[0])

        # signature: the ID token says it is someone else's (sub 1) under tess's signature.
        op.control(sub="1")
        try:
            sso(fresh_page(browser, server.http, errors), op, "tess")
        finally:
            op.control(sub="")
        refused(browser.contexts[-1].pages[0])

        down = fresh_page(browser, server.http, errors)
        down.goto("/accounts/login/")
        with down.expect_response(lambda r: "/accounts/sso/down/login/" in r.url) as answer:
            down.click("#sso-down")
        assert answer.value.status == 503
        expect(down.locator("h1")).to_have_text("Down ID is not answering")
        expect(down.locator("#sso-problem")).to_contain_text("Try again in a few minutes")
    assert errors == []

    assert not User.objects.exists()  # nobody got in
    assert not SessionRecord.objects.exists()
    failures = AuditLog.objects.filter(action="login.failure")
    assert sorted(failures.values_list("reason", "target")) == [
        ("sso_error", "down"),
        *[("sso_error", "test")] * 4,
    ]


@pytest.mark.timeout(180)
def test_invite_only_sso_sign_up_by_domain_or_with_an_invitation_carried_through(
    server_env: dict[str, str],
    log_dir: Path,
    chat_port: int,
    op: OpenIdProvider,
    chromium_path: Path,
    make_user: Callable[..., User],
) -> None:
    root = make_user("root", is_staff=True)
    design = Room.objects.create(slug="design", name="Design")
    invitation = services.invitation_create(creator=root, rooms=[design])
    errors: list[str] = []
    with (
        chat(
            server_env,
            log_dir,
            chat_port,
            op,
            CHAT_SIGNUP="invite",
            CHAT_SIGNUP_EMAIL_DOMAINS="corp.example",
        ) as server,
        launch_chromium(chromium_path) as browser,
    ):
        page = fresh_page(browser, server.http, errors)
        sso(page, op, "otto")  # not at corp.example, no invitation
        expect(page.locator("#sso-problem")).to_contain_text("sign-up needs an invitation")

        page = fresh_page(browser, server.http, errors)
        sso(page, op, "dora")  # a verified corp.example address
        landed_in_chat(page, server.http)

        page = fresh_page(browser, server.http, errors)
        page.goto(f"/accounts/signup/{invitation.secret}/")
        expect(page.locator("#invited-rooms")).to_contain_text("Design")
        expect(page.locator("#sso-test")).to_have_text("Sign up with Test ID")
        sso(page, op, "ivan", start=f"/accounts/signup/{invitation.secret}/")
        landed_in_chat(page, server.http)
        expect(page.get_by_role("button", name="Leave Design")).to_be_visible()
    assert errors == []

    assert not User.objects.filter(username="otto").exists()
    assert AuditLog.objects.get(action="login.failure").reason == "sso_no_account"
    assert User.objects.get(username="dora").email == "dora@corp.example"
    ivan = User.objects.get(username="ivan")
    assert Membership.objects.filter(user=ivan, room=design).exists()
    assert InvitationUse.objects.get(invitation=invitation.invitation).user == ivan
    use = AuditLog.objects.get(action="invitation.use")
    reason = f"{invitation.invitation.prefix}…"  # written once, by user_signup
    assert (use.actor, use.target_user, use.reason) == (ivan, ivan, reason)
