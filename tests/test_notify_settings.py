"""The notification settings page (/notifications/): login required, CSRF-checked
forms, and what it saves is what chat's selectors then read."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from chat import selectors
from notify.views import pause_end

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol", email="carol@example.com")


def client_for(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def post(client: Client, data: dict[str, str]) -> int:
    page = client.get("/notifications/")
    token = page.context["csrf_token"]
    return client.post("/notifications/", {**data, "csrfmiddlewaretoken": str(token)}).status_code


def test_page_needs_a_login() -> None:
    response = Client().get("/notifications/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_account_settings_link_to_it(carol: User) -> None:
    assert b'href="/notifications/"' in client_for(carol).get("/accounts/settings/").content


def test_email_for_missed_messages_turns_off_and_on(carol: User) -> None:
    client = client_for(carol)
    assert post(client, {"action": "email"}) == 302  # an unchecked box is not sent
    assert selectors.notify_prefs(carol.pk)["email_missed"] is False
    assert box_checked(client) is False
    assert post(client, {"action": "email", "email_missed": "on"}) == 302
    assert selectors.notify_prefs(carol.pk)["email_missed"] is True
    assert box_checked(client) is True


def box_checked(client: Client) -> bool:
    box = re.search(rb'id="email_missed"( checked)?>', client.get("/notifications/").content)
    assert box is not None
    return box[1] is not None


def test_a_form_without_its_csrf_token_is_refused(carol: User) -> None:
    response = client_for(carol).post("/notifications/", {"action": "email"})
    assert response.status_code == 403
    assert selectors.notify_prefs(carol.pk)["email_missed"] is True


def test_pause_for_an_hour_then_off(carol: User) -> None:
    client = client_for(carol)
    assert post(client, {"action": "pause", "pause": "1h"}) == 302
    until = selectors.notify_prefs(carol.pk)["paused_until"]
    assert until is not None
    left = datetime.fromisoformat(until) - timezone.now()
    assert timedelta(minutes=59) < left <= timedelta(hours=1)
    assert b"Paused until" in client.get("/notifications/").content
    assert post(client, {"action": "pause", "pause": "off"}) == 302
    assert selectors.notify_prefs(carol.pk)["paused_until"] is None


def test_a_pause_date_in_the_past_is_refused(carol: User) -> None:
    client = client_for(carol)
    data = {"action": "pause", "pause": "until", "until": "2001-01-01T10:00", "tz": "UTC"}
    assert post(client, data) == 400
    assert selectors.notify_prefs(carol.pk)["paused_until"] is None


def test_pause_ends_in_the_users_own_time() -> None:
    paris = ZoneInfo("Europe/Paris")  # 23:30 there: "tomorrow" is the 11th at 08:00
    assert pause_end("tomorrow", "", paris, NOW) == datetime(2026, 3, 11, 8, tzinfo=paris)
    assert pause_end("8h", "", paris, NOW) == NOW + timedelta(hours=8)
    end = pause_end("until", "2026-03-12T09:15", paris, NOW)
    assert end == datetime(2026, 3, 12, 8, 15, tzinfo=UTC)
    assert pause_end("off", "", paris, NOW) is None
    for choice, until, why in (
        ("until", "2025-01-01T00:00", "out of range"),
        ("until", "not a date", "isoformat"),
        ("forever", "", "unknown choice"),
    ):
        with pytest.raises(ValueError, match=why):
            pause_end(choice, until, paris, NOW)
