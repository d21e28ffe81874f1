"""The settings page's look and time zone (Profile.theme, Profile.timezone), the theme in
every page's <html data-theme>, and the one form style (templates/_field.html)."""

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from accounts import profiles
from accounts.models import Profile
from chat.errors import ChatError
from chat.protocol.codes import ErrorCode

pytestmark = pytest.mark.django_db


def field_block(page: str, name: str) -> str:
    """The HTML of one field's block (label, input, errors, help) as _field.html renders it."""
    block = rf'<div class="field[^"]*" id="field-{name}">(.*?)(?=id="field-|</form>)'
    match = re.search(block, page, re.S)
    assert match, f"no field block for {name}"
    return match[1]


def html_theme(page: str) -> str:
    match = re.search(r'<html lang="en" data-theme="([a-z]+)">', page)
    assert match, page[:300]
    return match[1]


@pytest.fixture
def carol_client(make_user: Callable[..., User]) -> tuple[User, Client]:
    carol = make_user("carol")
    client = Client()
    client.force_login(carol)
    return carol, client


def test_the_theme_and_time_zone_are_saved_and_every_page_renders_with_the_theme(
    carol_client: tuple[User, Client],
) -> None:
    carol, client = carol_client
    assert html_theme(client.get("/accounts/settings/").content.decode()) == "system"
    response = client.post(
        "/accounts/settings/",
        {"action": "preferences", "theme": "dark", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/settings/?saved=preferences"
    profile = Profile.objects.get(user=carol)
    assert (profile.theme, profile.timezone) == ("dark", "Europe/Paris")
    page = client.get(response["Location"]).content.decode()
    assert html_theme(page) == "dark"
    assert '<meta name="color-scheme" content="dark">' in page
    assert "Appearance and time zone saved." in page
    theme = field_block(page, "theme")
    assert re.search(r'value="dark"[^>]*checked', theme)
    assert re.search(r'<option value="Europe/Paris" selected>', field_block(page, "timezone"))
    # Other pages too, with no script: the first paint is already dark.
    for path in ("/rooms/", "/settings/tokens/", "/notifications/"):
        assert html_theme(client.get(path).content.decode()) == "dark", path

    # Light, and no time zone (blank is allowed).
    client.post("/accounts/settings/", {"action": "preferences", "theme": "light", "timezone": ""})
    profile.refresh_from_db()
    assert (profile.theme, profile.timezone) == ("light", "")
    assert html_theme(client.get("/rooms/").content.decode()) == "light"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"theme": "sepia", "timezone": ""}, "theme", "Choose light, dark or system."),
        ({"timezone": ""}, "theme", "This field is required."),
        ({"theme": "dark", "timezone": "Mars/Olympus_Mons"}, "timezone", "Choose a time zone"),
        ({"theme": "dark", "timezone": "europe/paris"}, "timezone", "Choose a time zone"),
    ],
)
def test_an_invalid_theme_or_time_zone_is_refused_next_to_its_field(
    carol_client: tuple[User, Client], data: dict[str, str], field: str, message: str
) -> None:
    carol, client = carol_client
    response = client.post("/accounts/settings/", {"action": "preferences", **data})
    assert response.status_code == 400
    page = response.content.decode()
    block = field_block(page, field)
    assert 'class="errorlist"' in block
    assert message in block
    assert not Profile.objects.filter(user=carol).exists()  # nothing saved
    assert html_theme(page) == "system"


def test_the_service_refuses_what_the_form_would(carol_client: tuple[User, Client]) -> None:
    carol, _ = carol_client
    with pytest.raises(ChatError) as bad_theme:
        profiles.profile_preferences_set(user=carol, theme="blue", timezone_name="")
    assert bad_theme.value.code == ErrorCode.INVALID
    with pytest.raises(ChatError) as bad_zone:
        profiles.profile_preferences_set(user=carol, theme="dark", timezone_name="Nowhere/Town")
    assert bad_zone.value.code == ErrorCode.BAD_TZ
    assert not Profile.objects.filter(user=carol).exists()
    profiles.profile_preferences_set(user=carol, theme="dark", timezone_name=" Asia/Tokyo ")
    assert Profile.objects.get(user=carol).timezone == "Asia/Tokyo"


def test_anonymous_pages_follow_the_system_theme(client: Client) -> None:
    page = client.get("/accounts/login/").content.decode()
    assert html_theme(page) == "system"
    assert '<meta name="color-scheme" content="light dark">' in page


@override_settings(CHAT_SIGNUP="open")
def test_forms_share_one_field_style_with_errors_next_to_their_field(client: Client) -> None:
    """Sign-up through templates/_field.html: label, input, error, help in one block."""
    page = client.post(
        "/accounts/signup/",
        {"username": "bad name!", "password1": "x", "password2": "y", "email": "nope"},
    ).content.decode()
    username = field_block(page, "username")
    assert '<label for="id_username">' in username
    assert 'class="errorlist"' in username
    email = field_block(page, "email")
    assert "Enter a valid email address." in email
    assert 'class="help"' in email
    assert 'aria-describedby="id_email_helptext id_email_error"' in email
    assert 'id="id_email_error"' in email
