"""The people directory (/people/), the people search of the API (GET /api/users/?q=),
one person for a profile card (GET /api/users/<username>/) and who is online anywhere."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client, override_settings

from accounts import profiles
from accounts.models import Profile
from chat import services
from chat.pages.people import local_time
from chat.presence import keys
from chat.presence.online import users_online
from chat.presence.stores import MemoryStore
from tests.conftest import REDIS_TEST_URL

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _unlimited(settings: Any) -> None:
    """No people-search limit but in the test of it: without Redis the buckets live in
    the process, and SQLite hands a rolled-back user's id to the next test's user."""
    settings.CHAT_PEOPLE_BURST = 0


def session(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    made = {name: make_user(name) for name in ("alice", "bob", "carol", "dave", "zoe_q")}
    profiles.profile_update(user=made["bob"], display_name="Robert Zimmer")
    profiles.profile_update(user=made["carol"], display_name="Carol Bobbins")
    Profile.objects.filter(user=made["carol"]).update(timezone="Asia/Tokyo")
    made["dave"].is_active = False
    made["dave"].save()
    return made


@pytest.fixture
def online_here() -> Iterator[MemoryStore]:
    """This process's presence, as a connection's arrival leaves it (no Redis in tests)."""
    store = MemoryStore()
    yield store
    store.users.clear()


# --- the API -------------------------------------------------------------------------------


def test_people_search_matches_usernames_and_display_names_best_first(
    people: dict[str, User],
) -> None:
    client = session(people["alice"])
    found = client.get("/api/users/", {"q": "bob"}).json()
    # bob's username is exact; carol's display name has a word starting with it.
    assert [p["username"] for p in found["results"]] == ["bob", "carol"]
    assert found["page"] == 1
    assert found["has_more"] is False
    assert found["results"][0] == {
        "username": "bob",
        "display_name": "Robert Zimmer",
        "author_bot": False,
        "avatar": found["results"][0]["avatar"],
        "timezone": "",
        "online": False,
    }
    assert found["results"][1]["timezone"] == "Asia/Tokyo"
    assert client.get("/api/users/", {"q": "ZIMMER"}).json()["results"][0]["username"] == "bob"
    assert client.get("/api/users/", {"q": "nobody-like-this"}).json()["results"] == []


def test_people_search_leaves_out_deactivated_users(people: dict[str, User]) -> None:
    client = session(people["alice"])
    everyone = client.get("/api/users/", {"q": ""}).json()["results"]
    assert "dave" not in [p["username"] for p in everyone]
    assert client.get("/api/users/", {"q": "dave"}).json()["results"] == []
    assert client.get("/api/users/dave/").status_code == 404


def test_people_search_pages(make_user: Callable[..., User]) -> None:
    users = [make_user(f"member{n:02d}") for n in range(45)]
    client = session(users[0])
    first = client.get("/api/users/", {"q": "member"}).json()
    second = client.get("/api/users/", {"q": "member", "page": "2"}).json()
    third = client.get("/api/users/", {"q": "member", "page": "3"}).json()
    assert (len(first["results"]), len(second["results"]), len(third["results"])) == (20, 20, 5)
    assert (first["has_more"], second["has_more"], third["has_more"]) == (True, True, False)
    seen = [p["username"] for page in (first, second, third) for p in page["results"]]
    assert sorted(seen) == sorted(u.username for u in users)  # each once, none skipped
    assert client.get("/api/users/", {"q": "member", "page": "0"}).status_code == 400


def test_people_search_and_cards_refuse_anonymous_users(people: dict[str, User]) -> None:
    anonymous = Client()
    assert anonymous.get("/api/users/", {"q": "bob"}).status_code == 401
    assert anonymous.get("/api/users/bob/").status_code == 401


def test_people_search_needs_either_usernames_or_q(people: dict[str, User]) -> None:
    client = session(people["alice"])
    both = client.get("/api/users/", {"q": "bob", "usernames": "bob"})
    assert both.status_code == 400
    assert client.get("/api/users/").status_code == 400
    # The lookup by usernames keeps its shape: a list of profiles.
    listed = client.get("/api/users/", {"usernames": "bob,dave"}).json()
    assert [p["username"] for p in listed] == ["bob"]
    assert set(listed[0]) == {"username", "display_name", "avatar", "author_bot"}


@override_settings(CHAT_PEOPLE_BURST=2, CHAT_PEOPLE_RATE_PER_SECOND=0.01)
def test_people_searches_are_rate_limited_per_user(people: dict[str, User]) -> None:
    alice = session(people["alice"])
    codes = [alice.get("/api/users/", {"q": "b"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = alice.get("/api/users/", {"q": "b"})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in limited
    assert session(people["bob"]).get("/api/users/", {"q": "b"}).status_code == 200


def test_profile_card_endpoint_shows_the_person_and_nothing_of_their_rooms(
    people: dict[str, User],
) -> None:
    services.room_create(
        slug="secret-plans", name="Secret Plans", topic="", creator=people["carol"], is_private=True
    )
    services.dm_open(user=people["carol"], other=people["bob"])
    card = session(people["alice"]).get("/api/users/carol/")
    assert card.status_code == 200
    assert card.json() == {
        "username": "carol",
        "display_name": "Carol Bobbins",
        "author_bot": False,
        "avatar": card.json()["avatar"],
        "timezone": "Asia/Tokyo",
        "online": False,
    }
    assert "secret" not in card.content.decode().lower()
    assert session(people["alice"]).get("/api/users/nobody/").json()["error"]["code"] == "not_found"


def test_people_are_online_while_connected_anywhere(
    people: dict[str, User], online_here: MemoryStore
) -> None:
    online_here.users[12345].add("carol")  # carol's page is open (any room will do)
    client = session(people["alice"])
    found = {
        p["username"]: p["online"] for p in client.get("/api/users/", {"q": ""}).json()["results"]
    }
    assert found == {"alice": False, "bob": False, "carol": True, "zoe_q": False}
    assert client.get("/api/users/carol/").json()["online"] is True


def test_users_online_reads_every_room_in_redis() -> None:
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("Redis unreachable")
    prefix = f"people-{uuid.uuid4().hex[:8]}"
    client.sadd(keys.rooms_key(prefix), 7, 8)
    client.hset(keys.room_users_key(prefix, 7), mapping={"bob": 1})
    client.hset(keys.room_users_key(prefix, 8), mapping={"carol": 2})
    try:
        with override_settings(REDIS_URL=REDIS_TEST_URL, CHAT_LAYER_PREFIX=prefix):
            assert users_online(["alice", "bob", "carol"]) == {"bob", "carol"}
            assert users_online([]) == set()
    finally:
        client.delete(
            keys.rooms_key(prefix), keys.room_users_key(prefix, 7), keys.room_users_key(prefix, 8)
        )


def test_people_search_is_in_the_openapi_schema(people: dict[str, User]) -> None:
    schema = session(people["alice"]).get("/api/schema/", HTTP_ACCEPT="application/json")
    text = schema.content.decode()
    assert "/api/users/{username}/" in text
    assert "has_more" in text


# --- the page ------------------------------------------------------------------------------


def test_people_page_lists_active_people_with_a_message_button(
    people: dict[str, User], online_here: MemoryStore
) -> None:
    online_here.users[1].add("bob")
    page = session(people["alice"]).get("/people/")
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("alice", "bob", "carol", "zoe_q"):
        assert f'data-profile="{name}"' in html
    assert 'data-profile="dave"' not in html
    assert 'href="/dm/bob/"' in html
    assert 'href="/dm/alice/"' not in html  # no "Message" to oneself
    assert "Robert Zimmer" in html
    assert 'data-timezone="Asia/Tokyo"' in html
    bob_row = html.split('data-username="bob"', 1)[1].split("</li>", 1)[0]
    assert ">online<" in bob_row
    carol_row = html.split('data-username="carol"', 1)[1].split("</li>", 1)[0]
    assert ">offline<" in carol_row


def test_people_page_searches_on_the_server_and_pages(
    people: dict[str, User], make_user: Callable[..., User]
) -> None:
    client = session(people["alice"])
    html = client.get("/people/", {"q": "zimmer"}).content.decode()
    assert 'data-profile="bob"' in html
    assert 'data-profile="carol"' not in html
    assert "Nobody matches" in client.get("/people/", {"q": "qqqq"}).content.decode()
    for n in range(25):
        make_user(f"extra{n:02d}")
    first = client.get("/people/", {"q": "extra"}).content.decode()
    assert first.count('class="person"') == 20
    assert 'rel="next" href="?q=extra&amp;page=2"' in first
    second = client.get("/people/", {"q": "extra", "page": "2"}).content.decode()
    assert second.count('class="person"') == 5
    assert 'rel="prev"' in second
    assert client.get("/people/", {"page": "junk"}).status_code == 200  # page 1


def test_people_page_is_for_logged_in_users_only() -> None:
    response = Client().get("/people/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_people_page_never_shows_private_rooms(people: dict[str, User]) -> None:
    services.room_create(
        slug="hidden-room",
        name="Hidden Room Name",
        topic="",
        creator=people["bob"],
        is_private=True,
    )
    html = session(people["alice"]).get("/people/", {"q": "bob"}).content.decode()
    assert "Hidden Room Name" not in html
    assert "hidden-room" not in html


def test_local_time_in_a_zone() -> None:
    noon_utc = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert local_time("Asia/Tokyo", noon_utc) == "21:00"
    assert local_time("", noon_utc) == ""
    assert local_time("Not/AZone", noon_utc) == ""
