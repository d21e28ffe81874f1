"""Accounts in a real browser against a real daphne (DJANGO_DEBUG off: invite-only):
sign-up refused without an invitation and accepted with one (rooms pre-joined); a
password reset mailed over real SMTP (aiosmtpd, started here) and used in Chromium;
a profile change seen by another user live."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accounts import services
from chat import services as chat_services
from chat.models import Membership, Room
from tests.conftest import TEST_PASSWORD
from tests.e2e.browser import fresh_page, launch_chromium, log_in, open_room, send
from tests.servers import daphnes
from tests.smtp import smtp_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NEW_PASSWORD = "a-brand-new-passphrase-91"


@pytest.mark.timeout(120)
def test_signup_needs_an_invitation_and_the_invitation_joins_its_rooms(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    root = make_user("root", is_staff=True)
    design = Room.objects.create(slug="design", name="Design")
    secret = Room.objects.create(slug="secret", name="Secret", is_private=True, created_by=root)
    invitation = services.invitation_create(creator=root, rooms=[design, secret])
    errors: list[str] = []
    with (
        daphnes(server_env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        page = fresh_page(browser, server.http, errors)
        refused = page.goto("/accounts/signup/")
        assert refused is not None
        assert refused.status == 403
        expect(page.locator("#signup-refused")).to_contain_text("invite-only")
        expect(page.locator("#signup-form")).to_have_count(0)

        guessed = page.goto("/accounts/signup/inv_" + "A" * 43 + "/")
        assert guessed is not None
        assert guessed.status == 403
        expect(page.locator("#invitation-problem")).to_contain_text("not valid")

        page.goto(f"/accounts/signup/{invitation.secret}/")
        expect(page.locator("#invited-rooms")).to_contain_text("Design, Secret")
        page.fill("input[name=username]", "dana")
        page.fill("input[name=email]", "dana@example.com")
        page.fill("input[name=password1]", TEST_PASSWORD)
        page.fill("input[name=password2]", TEST_PASSWORD)
        with page.expect_navigation():
            page.click("#signup-form button[type=submit]")
        assert page.url.rstrip("/") == server.http
        expect(page.get_by_role("button", name="Leave Design")).to_be_visible()
        expect(page.get_by_role("button", name="Leave Secret")).to_be_visible()

        again = fresh_page(browser, server.http, errors).goto(
            f"/accounts/signup/{invitation.secret}/"
        )
        assert again is not None
        assert again.status == 403
    assert errors == []
    joined = set(
        Membership.objects.filter(user__username="dana").values_list("room__slug", flat=True)
    )
    assert {"design", "secret"} <= joined


@pytest.mark.timeout(120)
def test_password_reset_mail_over_smtp_resets_the_password_in_the_browser(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    make_user("carol", password=TEST_PASSWORD, email="carol@example.com")
    errors: list[str] = []
    with smtp_server() as (inbox, smtp_port):
        env = {
            **server_env,
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "DEFAULT_FROM_EMAIL": "chat@example.com",
        }
        with (
            daphnes(env, log_dir, 1) as (server,),
            launch_chromium(chromium_path) as browser,
        ):
            page = fresh_page(browser, server.http, errors)
            page.goto("/accounts/login/")
            page.click("text=Forgot your password?")
            page.fill("input[name=email]", "carol@example.com")
            with page.expect_navigation():
                page.click("#password-reset-form button[type=submit]")
            expect(page.locator("#reset-sent")).to_contain_text("If an account has this address")
            assert inbox.arrived.wait(15), "no email reached the SMTP server"
            mail = inbox.messages[0]
            assert mail["To"] == "carol@example.com"
            assert mail["From"] == "chat@example.com"
            body = mail.get_payload(decode=True)
            assert isinstance(body, bytes)
            link = re.search(r"http://\S+/accounts/reset/\S+/", body.decode())
            assert link is not None, body

            page.goto(link.group(0))
            expect(page.locator("h1")).to_have_text("Choose a new password")
            page.fill("input[name=new_password1]", NEW_PASSWORD)
            page.fill("input[name=new_password2]", NEW_PASSWORD)
            with page.expect_navigation():
                page.click("#password-reset-confirm-form button[type=submit]")
            expect(page.locator("#reset-complete")).to_be_visible()

            old = fresh_page(browser, server.http, errors)
            old.goto("/accounts/login/")
            old.fill("input[name=username]", "carol")
            old.fill("input[name=password]", TEST_PASSWORD)
            with old.expect_navigation():
                old.click("form.stack button[type=submit]")
            assert "/accounts/login/" in old.url
            expect(old.locator(".errorlist")).to_contain_text("correct username and password")

            new = fresh_page(browser, server.http, errors)
            new.goto("/accounts/login/")
            new.fill("input[name=username]", "carol")
            new.fill("input[name=password]", NEW_PASSWORD)
            with new.expect_navigation():
                new.click("form.stack button[type=submit]")
            assert new.url.rstrip("/") == server.http
            assert len(inbox.messages) == 1
    assert errors == []


@pytest.mark.timeout(120)
def test_display_name_and_avatar_are_seen_by_another_user_live(
    server_env: dict[str, str],
    log_dir: Path,
    make_user: Callable[..., User],
    chromium_path: Path,
) -> None:
    alice_user = make_user("alice", password=TEST_PASSWORD)
    bob_user = make_user("bob", password=TEST_PASSWORD)
    make_user("root", password=TEST_PASSWORD, is_staff=True)
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    chat_services.dm_open(user=bob_user, other=alice_user)
    errors: list[str] = []
    with (
        daphnes(server_env, log_dir, 1) as (server,),
        launch_chromium(chromium_path) as browser,
    ):
        alice = log_in(browser, server.http, "alice", errors)
        bob = log_in(browser, server.http, "bob", errors)
        lookups: list[str] = []
        bob.on(
            "request",
            lambda request: lookups.append(request.url) if "/api/users/?" in request.url else None,
        )
        open_room(bob, "lobby")
        bob.evaluate("window.__notReloaded = true")
        # The header links to the settings; invitations only for staff.
        settings_link = bob.locator("header.top a", has_text="Settings")
        expect(settings_link).to_have_attribute("href", "/accounts/settings/")
        expect(bob.locator("header.top a", has_text="Invitations")).to_have_count(0)
        root = log_in(browser, server.http, "root", errors)
        invitations_link = root.locator("header.top a", has_text="Invitations")
        expect(invitations_link).to_have_attribute("href", "/accounts/invitations/")

        alice.goto("/accounts/settings/")
        alice.fill("input[name=display_name]", "Alice Liddell")
        png = _png_file(log_dir)
        alice.set_input_files("input[name=avatar]", str(png))
        with alice.expect_navigation():
            alice.click("#profile-form button[type=submit]")
        expect(alice.locator("#display-name-current")).to_have_text("Alice Liddell")
        open_room(alice, "lobby")
        send(alice, "hello from Alice")
        line = bob.locator("#messages li", has_text="hello from Alice")
        expect(line).to_contain_text("Alice Liddell")
        expect(line.locator("img[src*='/api/users/alice/avatar/']")).to_have_count(1)
        # The name with the username (two people may share a name), the avatar loaded
        # and described by the name.
        avatar = line.locator("img.avatar")
        expect(line.locator(".author")).to_have_text("Alice Liddell @alice")
        expect(avatar).to_have_attribute("alt", "Alice Liddell")
        bob.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=avatar.element_handle()
        )
        # The online list and the direct room in the sidebar name her too, and her own
        # page's header shows her profile.
        expect(bob.locator("#online li")).to_have_text(["Alice Liddell @alice", "bob (you)"])
        dm_link = bob.locator("#dm-list a.room-link")
        expect(dm_link).to_have_text(["Alice Liddell @alice"])
        expect(alice.locator("header.top .me")).to_have_text("Alice Liddell @alice")
        expect(alice.locator("header.top .me img.avatar")).to_have_count(1)
        expect(alice.locator("#messages li.message .author")).to_have_text(["Alice Liddell @alice"])
        first_src = avatar.get_attribute("src")

        # She changes her name again in another tab: every place follows at once, in
        # bob's page and hers, without a reload.
        other_tab = alice.context.new_page()
        other_tab.goto("/accounts/settings/")
        other_tab.fill("input[name=display_name]", "Alice Pleasance")
        with other_tab.expect_navigation():
            other_tab.click("#profile-form button[type=submit]")
        expect(other_tab.locator("#display-name-current")).to_have_text("Alice Pleasance")
        expect(line.locator(".author")).to_have_text("Alice Pleasance @alice")
        expect(avatar).to_have_attribute("alt", "Alice Pleasance")
        expect(avatar).not_to_have_attribute("src", first_src or "")
        expect(bob.locator("#online li")).to_have_text(["Alice Pleasance @alice", "bob (you)"])
        expect(dm_link).to_have_text(["Alice Pleasance @alice"])
        expect(alice.locator("header.top .me")).to_have_text("Alice Pleasance @alice")
        expect(alice.locator("#messages li.message .author")).to_have_text(
            ["Alice Pleasance @alice"]
        )
        assert bob.evaluate("window.__notReloaded") is True
        # Profiles are cached by the page: alice was looked up once (for the direct room),
        # not again for the online list, her messages or her changes.
        assert [url.split("?", 1)[1] for url in lookups] == ["usernames=alice"], lookups
        bob.screenshot(path=str(log_dir / "profiles-live.png"))
    assert errors == []


def _png_file(folder: Path) -> Path:
    from PIL import Image

    path = folder / "avatar.png"
    Image.new("RGB", (256, 256), (40, 120, 200)).save(path)
    return path
