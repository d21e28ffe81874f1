"""The reads every connect makes, as plain statements (#28): the session
(accounts/session_db.py) and hello's profile and notification preferences
(chat.selectors.user_profile_and_prefs). They answer what the ORM reads answered, on
both engines."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import override_settings
from django.utils import timezone

from accounts import session_db
from accounts.models import Profile
from accounts.selectors import profile_forget, user_profile
from chat import selectors
from chat.models import NotifyPrefs

pytestmark = pytest.mark.django_db


def test_a_stored_session_loads_and_an_expired_or_unknown_one_is_empty() -> None:
    store = session_db.SessionStore()
    store[SESSION_KEY] = "42"
    store.save()
    key = store.session_key
    assert key is not None
    assert session_db.SessionStore(key).load() == {SESSION_KEY: "42"}
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    expired = session_db.SessionStore(key)
    assert expired.load() == {}
    assert expired.session_key is None  # as Django's: the key is dropped
    assert session_db.SessionStore("x" * 32).load() == {}


def test_only_table_backed_engines_say_so() -> None:
    assert session_db.table_backed()
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cached_db"):
        assert session_db.table_backed()
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies"):
        assert not session_db.table_backed()


def test_profile_and_prefs_are_the_defaults_without_rows(make_user: Callable[..., User]) -> None:
    alice = make_user("alice")
    profile_forget()  # user_profile's per-process cache may hold an earlier test's pk
    profile, prefs = selectors.user_profile_and_prefs(alice.pk)
    assert profile == user_profile(alice.pk)
    assert profile is not None
    assert profile["display_name"] == "alice"
    assert prefs == selectors.notify_prefs(alice.pk)
    assert prefs == {"paused_until": None, "email_missed": True, "thread_replies": True}


def test_profile_and_prefs_are_the_rows_when_set(make_user: Callable[..., User]) -> None:
    alice = make_user("alice")
    Profile.objects.update_or_create(
        user=alice, defaults={"display_name": "Alice A.", "version": 3, "is_bot": True}
    )
    until = timezone.now() + timedelta(hours=1)
    NotifyPrefs.objects.create(
        user=alice, paused_until=until, email_missed=False, thread_replies=False
    )
    profile_forget()
    profile, prefs = selectors.user_profile_and_prefs(alice.pk)
    assert profile == user_profile(alice.pk)
    assert profile is not None
    assert profile["display_name"] == "Alice A."
    assert profile["author_bot"] is True
    assert prefs == selectors.notify_prefs(alice.pk)
    assert prefs["paused_until"] == until.isoformat()
    assert prefs["email_missed"] is False


def test_no_such_user_has_no_profile() -> None:
    profile, prefs = selectors.user_profile_and_prefs(999_999)
    assert profile is None
    assert prefs["email_missed"] is True
