"""The audit trail: every security event this part wires is written once, with its actor
and its target, by driving the path a person or staff really takes (a page, the admin,
the log-in form), and logged to the JSON log under its own name. One row per path."""

import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import services as account_services
from accounts.identity.audit import SecurityEvent
from accounts.models import SessionRecord
from chat import services as chat_services
from chat.models import ApiToken, AuditLog
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-horse-battery-staple"
PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0.0.0 Mobile Safari/537.36"


@dataclass
class World:
    alice: User  # a person with a password
    root: User  # staff (superuser), for the admin

    def client(self, user: User | None = None, agent: str = "Firefox/128.0") -> Client:
        """Logged in through the log-in page (a real session record)."""
        client = Client(HTTP_USER_AGENT=agent)
        if user is not None:
            form = {"username": user.get_username(), "password": TEST_PASSWORD}
            assert client.post("/accounts/login/", form).status_code == 302
        return client

    def admin(self) -> Client:
        admin = Client()
        admin.force_login(self.root)
        return admin

    def admin_user_save(self, user: User, **flags: bool) -> None:
        """Save `user` through the admin's change form with these flags changed."""
        user.refresh_from_db()
        joined = timezone.localtime(user.date_joined)
        data = {
            "username": user.get_username(),
            "email": user.email,
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
        }
        for flag in ("is_active", "is_staff", "is_superuser"):
            if flags.get(flag, getattr(user, flag)):
                data[flag] = "on"
        response = self.admin().post(f"/admin/auth/user/{user.pk}/change/", data)
        assert response.status_code == 302, response.content.decode()[:2000]


Expected = tuple[User | None, User | None]  # (actor, target_user) the entry must name


def login_wrong_password(w: World) -> Expected:
    w.client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    return None, w.alice


def login_inactive(w: World) -> Expected:
    User.objects.filter(pk=w.alice.pk).update(is_active=False)
    w.client().post("/accounts/login/", {"username": "alice", "password": TEST_PASSWORD})
    return None, w.alice


def logout(w: World) -> Expected:
    w.client(w.alice).post("/accounts/logout/")
    return w.alice, w.alice


def password_change(w: World) -> Expected:
    form = {
        "old_password": TEST_PASSWORD,
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    }
    assert w.client(w.alice).post("/accounts/password_change/", form).status_code == 302
    return w.alice, w.alice


def password_set_by_staff(w: World) -> Expected:
    form = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    response = w.admin().post(f"/admin/auth/user/{w.alice.pk}/password/", form)
    assert response.status_code == 302
    w.alice.refresh_from_db()
    assert w.alice.check_password(NEW_PASSWORD)
    return w.root, w.alice


def password_reset(w: World) -> Expected:
    uid = urlsafe_base64_encode(force_bytes(w.alice.pk))
    token = default_token_generator.make_token(w.alice)
    client = w.client()
    form_url = client.get(f"/accounts/reset/{uid}/{token}/")["Location"]
    form = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post(form_url, form).status_code == 302
    return w.alice, w.alice


def email_change(w: World) -> Expected:
    form = {"action": "email", "email": "alice@new.example"}
    assert w.client(w.alice).post("/accounts/settings/", form).status_code == 302
    return w.alice, w.alice


def session_sign_out_by_owner(w: World) -> Expected:
    w.client(w.alice, agent=PHONE)
    phone = SessionRecord.objects.get(user=w.alice, user_agent=PHONE)
    w.client(w.alice).post("/accounts/sessions/", {"action": "session", "id": phone.pk})
    return w.alice, w.alice


def session_sign_out_by_staff(w: World) -> Expected:
    w.client(w.alice)
    record = SessionRecord.objects.get(user=w.alice)
    form = {"action": "sign_out", "_selected_action": [str(record.pk)]}
    w.admin().post("/admin/accounts/sessionrecord/", form)
    return w.root, w.alice


def token_create_on_its_page(w: World) -> Expected:
    w.client(w.alice).post("/settings/tokens/", {"name": "ci"})
    return w.alice, w.alice


def token_create_by_staff(w: World) -> Expected:
    w.admin().post("/admin/chat/apitoken/add/", {"user": w.alice.pk, "name": "ci"})
    return w.root, w.alice


def token_revoke_on_its_page(w: World) -> Expected:
    token = _token(w.alice)
    w.client(w.alice).post("/settings/tokens/", {"action": "revoke", "token": token.pk})
    return w.alice, w.alice


def token_revoke_on_the_sessions_page(w: World) -> Expected:
    token = _token(w.alice)
    w.client(w.alice).post("/accounts/sessions/", {"action": "token", "id": token.pk})
    return w.alice, w.alice


def token_revoke_by_staff(w: World) -> Expected:
    token = _token(w.alice)
    w.admin().post(f"/admin/chat/apitoken/{token.pk}/delete/", {"post": "yes"})
    return w.root, w.alice


def _token(user: User) -> ApiToken:
    token = chat_services.token_create(user=user, name="ci").token
    AuditLog.objects.all().delete()  # the setup's own entry is not the one under test
    return token


def invitation_create(w: World) -> Expected:
    form = {"action": "create", "days": "7", "max_uses": "1", "note": "for dan"}
    w.client(w.root).post("/accounts/invitations/", form)
    return w.root, None  # about a link, not an account: the target is its text


def invitation_use(w: World) -> Expected:
    secret = account_services.invitation_create(creator=w.root).secret
    AuditLog.objects.all().delete()
    form = {"username": "dan", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    with override_settings(CHAT_SIGNUP="invite"):
        assert w.client().post(f"/accounts/signup/{secret}/", form).status_code == 302
    dan = User.objects.get(username="dan")
    return dan, dan


def staff_grant(w: World) -> Expected:
    w.admin_user_save(w.alice, is_staff=True)
    return w.root, w.alice


def staff_remove(w: World) -> Expected:
    User.objects.filter(pk=w.alice.pk).update(is_staff=True)
    w.admin_user_save(w.alice, is_staff=False)
    return w.root, w.alice


def user_deactivate_in_the_form(w: World) -> Expected:
    w.admin_user_save(w.alice, is_active=False)
    return w.root, w.alice


def user_deactivate_by_the_action(w: World) -> Expected:
    form = {"action": "deactivate_users", "_selected_action": [str(w.alice.pk)]}
    w.admin().post("/admin/auth/user/", form)
    return w.root, w.alice


def user_reactivate(w: World) -> Expected:
    User.objects.filter(pk=w.alice.pk).update(is_active=False)
    w.admin_user_save(w.alice, is_active=True)
    return w.root, w.alice


@dataclass(frozen=True)
class Case:
    event: SecurityEvent
    drive: Callable[[World], Expected]
    reason: str = ""  # a pattern the entry's reason matches


CASES = [
    Case(SecurityEvent.LOGIN_FAILURE, login_wrong_password, "^password$"),
    Case(SecurityEvent.LOGIN_FAILURE, login_inactive, "^inactive$"),
    Case(SecurityEvent.LOGOUT, logout),
    Case(SecurityEvent.PASSWORD_CHANGE, password_change),
    Case(SecurityEvent.PASSWORD_CHANGE, password_set_by_staff, "by staff"),
    Case(SecurityEvent.PASSWORD_RESET, password_reset),
    Case(SecurityEvent.EMAIL_CHANGE, email_change, "alice@new.example"),
    Case(SecurityEvent.SESSION_SIGN_OUT, session_sign_out_by_owner, "^by owner: "),
    Case(SecurityEvent.SESSION_SIGN_OUT, session_sign_out_by_staff, "^by staff: "),
    Case(SecurityEvent.TOKEN_CREATE, token_create_on_its_page),
    Case(SecurityEvent.TOKEN_CREATE, token_create_by_staff),
    Case(SecurityEvent.TOKEN_REVOKE, token_revoke_on_its_page),
    Case(SecurityEvent.TOKEN_REVOKE, token_revoke_on_the_sessions_page),
    Case(SecurityEvent.TOKEN_REVOKE, token_revoke_by_staff),
    Case(SecurityEvent.INVITATION_CREATE, invitation_create),
    Case(SecurityEvent.INVITATION_USE, invitation_use, "^inv_"),
    Case(SecurityEvent.STAFF_GRANT, staff_grant),
    Case(SecurityEvent.STAFF_REMOVE, staff_remove),
    Case(SecurityEvent.USER_DEACTIVATE, user_deactivate_in_the_form),
    Case(SecurityEvent.USER_DEACTIVATE, user_deactivate_by_the_action),
    Case(SecurityEvent.USER_REACTIVATE, user_reactivate),
]


@pytest.fixture
def world(make_user: Callable[..., User]) -> World:
    return World(
        alice=make_user("alice", password=TEST_PASSWORD, email="alice@old.example"),
        root=make_user("root", password=TEST_PASSWORD, is_staff=True, is_superuser=True),
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.drive.__name__)
def test_each_event_is_written_once_with_its_actor_and_target(
    case: Case,
    world: World,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Callable[..., AbstractContextManager[object]],
) -> None:
    AuditLog.objects.all().delete()  # the fixtures' log-ins are not under test
    with caplog.at_level(logging.INFO), django_capture_on_commit_callbacks(execute=True):
        actor, target = case.drive(world)
    entries = list(AuditLog.objects.filter(action=case.event.value))
    assert len(entries) == 1, [(e.action, e.actor, e.target) for e in entries]
    (entry,) = entries
    assert (entry.actor, entry.target_user) == (actor, target)
    assert entry.target  # a name even when the target is no account
    assert re.search(case.reason, entry.reason), entry.reason
    logged = [r for r in caplog.records if getattr(r, "event", None) == case.event.value]
    assert len(logged) == 1


def test_every_event_this_part_owns_has_a_row() -> None:
    owned = set(SecurityEvent) - {
        # Written by the other identity parts, tested with them.
        SecurityEvent.LOGIN_SUCCESS,
        SecurityEvent.MFA_ENROL,
        SecurityEvent.MFA_REMOVE,
        SecurityEvent.MFA_RECOVERY_USE,
        SecurityEvent.SSO_LINK,
        SecurityEvent.DATA_EXPORT,  # #27's, tested in tests/dataport/
        # Written by dataport's erasure (#27), tested in tests/dataport/test_erase.py.
        SecurityEvent.USER_ERASE,
    }
    assert owned == {case.event for case in CASES}


def test_a_locked_out_attempt_is_not_counted_as_a_wrong_password(world: World) -> None:
    client = world.client()
    with override_settings(AXES_FAILURE_LIMIT=2):
        for _ in range(4):
            client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    failures = AuditLog.objects.filter(action="login.failure", reason="password")
    assert failures.count() == 2  # the rest were refused by the lockout, unchecked
