"""Single sign-on without a browser: the views in-process (Django's test client) against
the real test OpenID Provider on loopback, for what the browser tests do not show —
a provider that stops answering between the redirect and the callback, a deactivated
account, CHAT_PASSWORD_LOGIN=off with its break-glass staff — and the claim rules."""

import re
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client

from accounts import services
from accounts.identity import oidc
from accounts.identity.config import OidcProvider, oidc_providers
from accounts.models import SessionRecord, SsoIdentity
from chat.models import AuditLog
from tests.conftest import TEST_PASSWORD
from tests.identity.op.server import OpenIdProvider, openid_provider

OP_PASSWORD = "provider-password-42"
CALLBACK = "http://testserver/accounts/sso/test/callback/"


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    users = [
        {"username": "paula", "email": "paula@corp.example", "password": OP_PASSWORD},
        {"username": "quinn", "email": "quinn@corp.example", "password": OP_PASSWORD},
    ]
    with openid_provider(
        tmp_path_factory.mktemp("op"), redirect_uris=[CALLBACK], users=users
    ) as provider:
        yield provider


def configured(op: OpenIdProvider) -> list[OidcProvider]:
    import json

    return oidc_providers(json.dumps([op.provider_setting()]))


def at_provider(op: OpenIdProvider, authorize_url: str, username: str) -> str:
    """Sign in at the provider as a browser would; return the callback URL it sends
    the browser to."""
    session = requests.Session()
    form = session.get(authorize_url, timeout=10)
    assert form.url.startswith(f"{op.url}/login/"), form.url
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None
    posted = session.post(
        form.url,
        data={"username": username, "password": OP_PASSWORD, "csrfmiddlewaretoken": token[1]},
        allow_redirects=False,
        timeout=10,
    )
    assert posted.status_code == 302, posted.text
    answer = session.get(
        urllib.parse.urljoin(op.url, posted.headers["Location"]), allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    callback = answer.headers["Location"]
    assert callback.startswith(CALLBACK)
    return callback


def sso_callback_url(client: Client, op: OpenIdProvider, username: str) -> str:
    start = client.get("/accounts/sso/test/login/")
    assert start.status_code == 302
    return at_provider(op, start["Location"], username)


@pytest.mark.django_db
def test_a_provider_gone_between_redirect_and_callback_gives_the_clear_page(
    settings: Any, tmp_path: Path
) -> None:
    users = [{"username": "rita", "email": "rita@corp.example", "password": OP_PASSWORD}]
    with openid_provider(tmp_path, redirect_uris=[CALLBACK], users=users) as short_lived:
        settings.CHAT_OIDC_PROVIDERS = configured(short_lived)
        client = Client()
        callback = sso_callback_url(client, short_lived, "rita")
    answer = client.get(callback)  # the token endpoint no longer answers
    assert answer.status_code == 503
    assert b"Test ID is not answering" in answer.content
    assert not User.objects.exists()
    failure = AuditLog.objects.get(action="login.failure")
    assert (failure.reason, failure.target, failure.actor) == ("sso_error", "test", None)


@pytest.mark.django_db
def test_a_replayed_callback_is_refused(settings: Any, op: OpenIdProvider) -> None:
    settings.CHAT_OIDC_PROVIDERS = configured(op)
    settings.CHAT_SIGNUP = "open"
    client = Client()
    callback = sso_callback_url(client, op, "paula")
    assert client.get(callback).status_code == 302  # logged in
    client.logout()
    replay = client.get(callback)  # its state was used up
    assert replay.status_code == 400
    assert b"could not be verified" in replay.content


@pytest.mark.django_db
def test_a_deactivated_account_is_refused_at_its_next_sso_log_in(
    settings: Any, op: OpenIdProvider
) -> None:
    settings.CHAT_OIDC_PROVIDERS = configured(op)
    settings.CHAT_SIGNUP = "open"
    client = Client()
    assert client.get(sso_callback_url(client, op, "quinn")).status_code == 302
    quinn = User.objects.get(sso_identities__provider="test")
    User.objects.filter(pk=quinn.pk).update(is_active=False)
    other = Client()
    refused = other.get(sso_callback_url(other, op, "quinn"))
    assert refused.status_code == 403
    assert b"deactivated" in refused.content
    assert "_auth_user_id" not in other.session
    assert AuditLog.objects.get(action="login.failure").reason == "inactive"


@pytest.mark.django_db
def test_password_log_in_off_leaves_only_sso_and_the_break_glass_staff(
    settings: Any, make_user: Callable[..., User], op: OpenIdProvider
) -> None:
    settings.CHAT_OIDC_PROVIDERS = configured(op)
    settings.CHAT_PASSWORD_LOGIN = False
    settings.CHAT_BREAK_GLASS_USERS = ["root", "carol"]
    make_user("root", password=TEST_PASSWORD, is_staff=True)
    make_user("admin2", password=TEST_PASSWORD, is_staff=True)
    make_user("carol", password=TEST_PASSWORD)  # named, but not staff
    root = make_user("inviter", is_staff=True)

    page = Client().get("/accounts/login/").content.decode()
    assert "Log in with Test ID" in page
    assert 'id="password-login-form"' not in page
    assert 'id="break-glass-link"' in page
    assert (
        'id="password-login-form"'
        in Client().get("/accounts/login/?break_glass=1").content.decode()
    )

    def password_log_in(username: str) -> bool:
        client = Client()
        client.post(
            "/accounts/login/?break_glass=1", {"username": username, "password": TEST_PASSWORD}
        )
        return "_auth_user_id" in client.session

    assert password_log_in("root")
    assert not password_log_in("admin2")
    assert not password_log_in("carol")

    secret = services.invitation_create(creator=root).secret
    signup = Client()
    page = signup.get(f"/accounts/signup/{secret}/").content.decode()
    assert 'id="signup-form"' not in page
    assert "Sign up with Test ID" in page
    assert f"invitation={secret}" in page
    signup.post(
        f"/accounts/signup/{secret}/",
        {"username": "dave", "password1": TEST_PASSWORD, "password2": TEST_PASSWORD},
    )
    assert not User.objects.filter(username="dave").exists()


def test_claims_amr_and_verified_email_are_read_strictly() -> None:
    base = {"sub": "s1", "email": " a@corp.example ", "name": "A B"}
    claims = oidc._claims({**base, "amr": ["pwd", "otp"], "email_verified": "true"})
    assert claims.mfa_asserted
    assert claims.email_verified
    assert claims.email == "a@corp.example"
    assert not oidc._claims({**base, "amr": "mfa", "email_verified": 1}).mfa_asserted
    assert not oidc._claims({**base, "email_verified": "yes"}).email_verified
    assert not oidc._claims(base).email_verified


@pytest.mark.django_db
def test_an_sso_session_is_described_as_such(settings: Any, op: OpenIdProvider) -> None:
    settings.CHAT_OIDC_PROVIDERS = configured(op)
    settings.CHAT_SIGNUP = "open"
    client = Client()
    client.get(sso_callback_url(client, op, "paula"))
    record = SessionRecord.objects.get(session_key=client.session.session_key)
    assert (record.method, record.provider, record.second_factor) == ("sso", "test", False)
    assert SsoIdentity.objects.get(user=record.user).sub


@pytest.mark.django_db
def test_a_provider_that_says_no_is_reported_as_such(settings: Any, op: OpenIdProvider) -> None:
    settings.CHAT_OIDC_PROVIDERS = configured(op)
    client = Client()
    start = client.get("/accounts/sso/test/login/")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start["Location"]).query)["state"][0]
    answer = client.get(f"/accounts/sso/test/callback/?error=access_denied&state={state}")
    assert answer.status_code == 400
    assert b"Test ID did not log you in (access_denied)" in answer.content
    assert AuditLog.objects.get(action="login.failure").reason == "sso_error"


@pytest.mark.django_db
def test_a_new_sso_account_gets_a_free_username(make_user: Callable[..., User]) -> None:
    from accounts.identity import oidc_accounts

    make_user("Paula")
    make_user("paula2")
    claims = oidc._claims({"sub": "x", "preferred_username": "paula", "email": "p@corp.example"})
    assert oidc_accounts._free_username(claims) == "paula3"
    odd = oidc._claims({"sub": "y", "preferred_username": "", "name": "Zoë Ann <z>"})
    assert oidc_accounts._free_username(odd) == "Zoë.Ann.z"


@pytest.mark.django_db
def test_staff_see_and_remove_sso_links_in_the_admin(make_user: Callable[..., User]) -> None:
    staff = make_user("root", is_staff=True, is_superuser=True)
    linked = make_user("linked")
    identity = SsoIdentity.objects.create(provider="corp", sub="abc-123", user=linked)
    client = Client()
    client.force_login(staff)
    listing = client.get("/admin/accounts/ssoidentity/?q=abc-123")
    assert listing.status_code == 200
    assert b"abc-123" in listing.content
    gone = client.post(
        f"/admin/accounts/ssoidentity/{identity.pk}/delete/", {"post": "yes"}, follow=False
    )
    assert gone.status_code == 302
    assert not SsoIdentity.objects.exists()
    assert User.objects.filter(pk=linked.pk).exists()  # only the link went
