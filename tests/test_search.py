"""Search on the engine under test (the suite runs on PostgreSQL and on SQLite): every
filter, edits and deletions, who may find what, paging, hostile input over the API, and
the history read around a search result (API and WebSocket)."""

import io
import itertools
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from chat import selectors, services
from chat.errors import ChatError
from chat.models import Attachment, Membership, Message, Room, Sanction
from chat.search.query import search_parse

pytestmark = pytest.mark.django_db


def post(user: User, room: Room, body: str) -> int:
    message = services.message_post(
        room_id=room.pk, author=user, body=body, client_id=uuid.uuid4().hex
    )
    return message["id"]


def reply(user: User, room: Room, root: int, body: str, *, also_to_room: bool = False) -> int:
    message = services.message_post_one(
        services.SendRequest(
            room_id=room.pk,
            author=user,
            body=body,
            client_id=uuid.uuid4().hex,
            thread=root,
            also_to_room=also_to_room,
        )
    )
    return message["id"]


def found(user: User, text: str, **options: Any) -> list[int]:
    page = selectors.message_search(user_id=user.pk, query=search_parse(text), **options)
    return [result["id"] for result in page["results"]]


def session(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def ops(alice: User, bob: User) -> Room:
    room = services.room_create(slug="ops", name="Ops", topic="", creator=alice)
    for user in (alice, bob):
        Membership.objects.get_or_create(room=room, user=user)
    return room


@pytest.fixture
def secret(alice: User, bob: User) -> Room:
    room = services.room_create(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )
    services.membership_add(room=room, user=bob, actor=alice)
    return room


# --- words, phrases, engines ------------------------------------------------------------------


def test_all_words_must_match_in_any_order(alice: User, ops: Room) -> None:
    both = post(alice, ops, "the deploy of the payment service failed")
    post(alice, ops, "the deploy went fine")
    post(alice, ops, "payment received")
    assert found(alice, "payment deploy") == [both]


def test_phrase_needs_the_words_together(alice: User, ops: Room) -> None:
    together = post(alice, ops, "please roll back now")
    post(alice, ops, "back to the roll call")
    assert found(alice, '"roll back"') == [together]


def test_stemmed_and_exact_forms_match(alice: User, ops: Room) -> None:
    stem = post(alice, ops, "Deploying the new build")
    code = post(alice, ops, "call get_user_id() first")
    assert found(alice, "deploy") == [stem]
    assert found(alice, "get_user_id") == [code]


def test_results_carry_the_message_and_a_safe_highlight(alice: User, ops: Room) -> None:
    pk = post(alice, ops, "<b>urgent</b>: the Deploy & rollback")
    [result] = selectors.message_search(user_id=alice.pk, query=search_parse("deploy"))["results"]
    assert (result["id"], result["room"], result["author"]) == (pk, "ops", "alice")
    assert result["seq"] == 1
    assert result["body"].startswith("<b>")
    assert (
        result["highlight"] == "&lt;b&gt;urgent&lt;/b&gt;: the <mark>Deploy</mark> &amp; rollback"
    )


def test_newest_first_and_cursor_paging(alice: User, ops: Room) -> None:
    ids = [post(alice, ops, f"release note {n}") for n in range(5)]
    first = selectors.message_search(user_id=alice.pk, query=search_parse("release"), limit=2)
    assert [r["id"] for r in first["results"]] == ids[:-3:-1]
    second = selectors.message_search(
        user_id=alice.pk, query=search_parse("release"), limit=2, cursor=first["next"]
    )
    third = selectors.message_search(
        user_id=alice.pk, query=search_parse("release"), limit=2, cursor=second["next"]
    )
    assert [r["id"] for r in second["results"] + third["results"]] == ids[2::-1]
    assert third["next"] is None


def test_relevance_puts_the_query_as_typed_first(alice: User, ops: Room) -> None:
    exact = post(alice, ops, "the disk is full on db1")
    post(alice, ops, "full moon tonight, and a new disk arrived")
    assert set(found(alice, "disk full")) == {exact, found(alice, "moon")[0]}
    ranked = found(alice, "full disk", sort="relevance")
    assert len(ranked) == 2
    assert found(alice, "disk is full", sort="relevance")[0] == exact


def test_relevance_pages_with_its_own_cursor(alice: User, ops: Room) -> None:
    ids = {post(alice, ops, f"alpha beta {n}") for n in range(3)}
    first = selectors.message_search(
        user_id=alice.pk, query=search_parse("alpha"), sort="relevance", limit=2
    )
    rest = selectors.message_search(
        user_id=alice.pk, query=search_parse("alpha"), sort="relevance", cursor=first["next"]
    )
    assert {r["id"] for r in first["results"] + rest["results"]} == ids
    with pytest.raises(ChatError) as caught:
        selectors.message_search(
            user_id=alice.pk, query=search_parse("alpha"), sort="newest", cursor=first["next"]
        )
    assert caught.value.code == "bad_cursor"


# --- filters --------------------------------------------------------------------------------


def test_in_and_from(alice: User, bob: User, ops: Room, room: Room) -> None:
    Membership.objects.get_or_create(room=room, user=bob)
    a_ops = post(alice, ops, "standup notes")
    b_ops = post(bob, ops, "standup notes too")
    a_gen = post(alice, room, "standup moved")
    assert set(found(bob, "standup in:ops")) == {a_ops, b_ops}
    assert found(bob, "standup in:#ops from:@alice") == [a_ops]
    assert found(bob, "standup from:ALICE") == [a_gen, a_ops]
    assert set(found(bob, "standup in:ops in:general")) == {a_ops, b_ops, a_gen}
    assert found(bob, "standup in:nowhere") == []
    assert found(bob, "standup from:nobody") == []


def test_before_and_after_are_days_in_the_given_zone(alice: User, ops: Room) -> None:
    old = post(alice, ops, "invoice sent")
    new = post(alice, ops, "invoice paid")
    Message.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(days=10))
    today = timezone.now().date()
    assert found(alice, f"invoice before:{today - timedelta(days=5)}") == [old]
    assert found(alice, f"invoice after:{today - timedelta(days=5)}") == [new]
    assert found(alice, f"invoice after:{today}") == []
    assert found(alice, f"invoice before:{today + timedelta(days=1)}") == [new, old]


def test_has_file_and_has_link(alice: User, ops: Room) -> None:
    with_file = post(alice, ops, "report attached")
    Attachment.objects.create(
        message_id=with_file,
        kind="file",
        file="r.pdf",
        name="r.pdf",
        content_type="application/pdf",
        size=3,
    )
    with_link = post(alice, ops, "report at HTTPS://example.com/r")
    plain = post(alice, ops, "report later")
    assert found(alice, "report has:file") == [with_file]
    assert found(alice, "report has:link") == [with_link]
    assert set(found(alice, "report")) == {with_file, with_link, plain}


def test_is_mention_counts_names_here_and_room(
    alice: User, bob: User, carol: User, ops: Room
) -> None:
    named = post(alice, ops, "@bob please check the backup")
    everyone = post(alice, ops, "@room backup tonight")
    post(alice, ops, "@carol backup is yours")  # carol is no member: not a mention of bob
    post(alice, ops, "backup plain")
    assert set(found(bob, "backup is:mention")) == {named, everyone}
    assert found(alice, "backup is:mention") == []  # her own @room is not a mention of her


def test_is_thread_finds_replies_only_and_every_hit_says_its_thread(
    alice: User, bob: User, carol: User, ops: Room, secret: Room
) -> None:
    root = post(alice, ops, "rollout plan for the cluster")
    kept = reply(bob, ops, root, "rollout step one done")
    shown = reply(bob, ops, root, "rollout step two done", also_to_room=True)
    plain = post(alice, ops, "rollout later")
    hidden_root = post(alice, secret, "rollout of the secret")
    private = reply(bob, secret, hidden_root, "rollout secret reply")
    assert found(alice, "rollout is:thread") == [private, shown, kept]
    assert found(alice, "rollout is:thread in:ops") == [shown, kept]
    assert found(carol, "rollout is:thread") == [shown, kept]  # not a member of secret
    assert found(carol, "rollout") == [plain, shown, kept, root]
    page = selectors.message_search(user_id=alice.pk, query=search_parse("rollout"))
    threads = {result["id"]: result["thread"] for result in page["results"]}
    assert threads == {
        private: hidden_root,
        hidden_root: None,
        plain: None,
        shown: root,
        kept: root,
        root: None,
    }
    answer = session(carol).get("/api/search/", {"q": "step is:thread"}).json()
    assert [(r["id"], r["thread"], r["also_to_room"]) for r in answer["results"]] == [
        (shown, root, True),
        (kept, root, False),
    ]


# --- what may be found ------------------------------------------------------------------------


def test_edits_match_their_new_text_only(alice: User, ops: Room) -> None:
    pk = post(alice, ops, "meeting at noon")
    services.message_edit(message_id=pk, user=alice, body="lunch at one")
    assert found(alice, "noon") == []
    assert found(alice, "lunch") == [pk]


def test_deleted_and_hidden_never_match(alice: User, bob: User, ops: Room, make_user: Any) -> None:
    mine = post(alice, ops, "oops password hunter2")
    theirs = post(bob, ops, "spam password offer")
    services.message_delete(message_id=mine, user=alice)
    moderator = make_user("mod", is_staff=True)
    services.message_delete(message_id=theirs, user=moderator, reason="spam")
    assert found(alice, "password") == []
    assert found(moderator, "password") == []


def test_the_index_follows_hard_deletes(alice: User, ops: Room) -> None:
    keep = post(alice, ops, "archive kept")
    gone = post(alice, ops, "archive dropped")
    Message.objects.filter(pk=gone).delete()
    assert found(alice, "archive") == [keep]


PRIVATE_BODY = "launch code zebra42 https://x.test"


def _every_query() -> list[str]:
    filters = ["in:secret", "from:alice", "has:link", "has:file", "is:mention", "after:2000-01-01"]
    queries = []
    for size in range(len(filters) + 1):
        for chosen in itertools.combinations(filters, size):
            queries.append(" ".join(["zebra42", *chosen]))
    return queries


def _secret_message(alice: User, bob: User, secret: Room) -> int:
    pk = post(alice, secret, f"@bob @room {PRIVATE_BODY}")
    Attachment.objects.create(
        message_id=pk, kind="file", file="s.txt", name="s.txt", content_type="text/plain", size=1
    )
    return pk


def test_a_private_room_is_found_by_its_members(alice: User, bob: User, secret: Room) -> None:
    pk = _secret_message(alice, bob, secret)
    assert found(bob, "zebra42 in:secret from:alice has:link has:file is:mention") == [pk]


def test_non_member_finds_nothing_through_any_filter(
    alice: User, bob: User, carol: User, secret: Room
) -> None:
    _secret_message(alice, bob, secret)
    for text in _every_query():
        assert found(carol, text) == [], text
        assert found(carol, text, sort="relevance") == [], text


def test_removed_member_finds_nothing_through_any_filter(
    alice: User, bob: User, secret: Room
) -> None:
    _secret_message(alice, bob, secret)
    services.membership_remove(room=secret, user=bob, actor=alice)
    for text in _every_query():
        assert found(bob, text) == [], text
        assert found(bob, text, sort="relevance") == [], text


def test_staff_do_not_search_other_peoples_private_rooms(
    alice: User, bob: User, secret: Room, make_user: Any
) -> None:
    _secret_message(alice, bob, secret)
    dm = services.dm_open(user=alice, other=bob)
    post(alice, dm, "zebra42 between us")
    admin = make_user("admin", is_staff=True)
    for text in _every_query():
        assert found(admin, text) == [], text


def test_banned_user_finds_nothing_in_that_room(alice: User, bob: User, ops: Room) -> None:
    post(alice, ops, "zebra42 in the open")
    assert found(bob, "zebra42")
    services.sanction_create(kind=Sanction.Kind.BAN, user=bob, room=ops, reason="x", actor=alice)
    assert found(bob, "zebra42") == []


def test_anonymous_gets_401_for_every_filter(alice: User, bob: User, secret: Room) -> None:
    _secret_message(alice, bob, secret)
    client = Client()
    for text in _every_query():
        response = client.get("/api/search/", {"q": text})
        assert response.status_code == 401, text
        assert b"zebra42 " not in response.content


def test_api_non_member_and_removed_member_get_empty_pages(
    alice: User, bob: User, carol: User, secret: Room
) -> None:
    _secret_message(alice, bob, secret)
    services.membership_remove(room=secret, user=bob, actor=alice)
    for user in (bob, carol):
        client = session(user)
        for text in _every_query():
            with override_settings(CHAT_SEARCH_BURST=0):
                response = client.get("/api/search/", {"q": text})
            assert response.status_code == 200, (user, text)
            assert response.json() == {"results": [], "next": None}


# --- the API ------------------------------------------------------------------------------------


def test_api_search_answers_results_with_highlight(alice: User, ops: Room) -> None:
    pk = post(alice, ops, "Rollback finished")
    response = session(alice).get("/api/search/", {"q": "rollback in:ops from:alice"})
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert result["id"] == pk
    assert result["room"] == "ops"
    assert result["seq"] == 1
    assert result["highlight"] == "<mark>Rollback</mark> finished"


def test_api_search_snippets_are_plain_text_without_markdown_marks(alice: User, ops: Room) -> None:
    body = "**Deploy** done :tada:\n```python\nprint('deploy')\n```\n[notes](https://example.com/deploy)"
    pk = post(alice, ops, body)
    response = session(alice).get("/api/search/", {"q": "deploy"})
    assert response.status_code == 200
    [result] = response.json()["results"]
    assert (result["id"], result["body"]) == (pk, body)  # the body itself stays as written
    assert result["highlight"] == ("<mark>Deploy</mark> done 🎉 print('<mark>deploy</mark>') notes")


@pytest.mark.parametrize(
    "q",
    [
        "a & b",
        "x | y",
        "!x",
        "x:*",
        "x NEAR y",
        "NEAR(x y, 2)",
        '"open',
        "x) OR (y",
        "'x' & 'y'",
        "x\\",
        "x'--",
        "é ß ø 漢字",
        "_",
        "\u200b",
        "x" * 99 + " y",
        "z" * 300,
    ],
)
def test_hostile_queries_never_reach_the_engine_as_syntax(alice: User, ops: Room, q: str) -> None:
    post(alice, ops, "x y a b é ß ø 漢字")
    with override_settings(CHAT_SEARCH_BURST=0):
        response = session(alice).get("/api/search/", {"q": q})
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert response.json()["error"]["code"] in {
            "empty_query",
            "query_too_long",
            "too_many_terms",
        }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "empty_query"),
        ({"q": "in:ops"}, "empty_query"),
        ({"q": "x" * 10_000}, "query_too_long"),
        ({"q": "x has:nothing"}, "bad_filter"),
        ({"q": "x", "cursor": "bm9wZQ"}, "bad_cursor"),
        ({"q": "x", "tz": "Mars/Olympus"}, "bad_tz"),
        ({"q": "x", "sort": "oldest"}, "invalid"),
        ({"q": "x", "limit": "0"}, "invalid"),
    ],
)
def test_api_bad_requests_are_400_with_a_code(
    alice: User, params: dict[str, str], code: str
) -> None:
    with override_settings(CHAT_SEARCH_BURST=0):
        response = session(alice).get("/api/search/", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@override_settings(CHAT_SEARCH_BURST=2, CHAT_SEARCH_RATE_PER_SECOND=0.01)
def test_searches_are_rate_limited_per_user(alice: User, bob: User, ops: Room) -> None:
    client = session(alice)
    assert [client.get("/api/search/", {"q": "x"}).status_code for _ in range(3)] == [200, 200, 429]
    limited = client.get("/api/search/", {"q": "x"})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in limited
    assert session(bob).get("/api/search/", {"q": "x"}).status_code == 200


def test_search_is_in_the_openapi_schema(alice: User) -> None:
    schema = session(alice).get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "/api/search/" in schema
    assert "highlight" in schema


# --- a result in context: history around a seq ---------------------------------------------------


def test_history_around_a_seq_has_both_sides(alice: User, ops: Room) -> None:
    for n in range(1, 31):
        post(alice, ops, f"m{n}")
    page = selectors.message_around(room_id=ops.pk, seq=10, limit=6)
    assert [m["seq"] for m in page] == [8, 9, 10, 11, 12, 13]
    start = selectors.message_around(room_id=ops.pk, seq=1, limit=6)
    assert [m["seq"] for m in start] == [1, 2, 3, 4, 5, 6]
    end = selectors.message_around(room_id=ops.pk, seq=30, limit=6)
    assert [m["seq"] for m in end] == [25, 26, 27, 28, 29, 30]


def test_api_history_around(alice: User, ops: Room, carol: User, secret: Room) -> None:
    for n in range(1, 21):
        post(alice, ops, f"m{n}")
    response = session(alice).get("/api/rooms/ops/messages/", {"around": 15, "limit": 4})
    body = response.json()
    assert [m["seq"] for m in body["messages"]] == [14, 15, 16, 17]
    assert body["has_more"] is True
    assert body["last_seq"] == 20
    bad = session(alice).get("/api/rooms/ops/messages/", {"around": 15, "before": 3})
    assert bad.status_code == 400
    hidden = session(carol).get("/api/rooms/secret/messages/", {"around": 1})
    assert hidden.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_bench_fill_command_plants_words_the_index_finds() -> None:
    from django.core.management import call_command

    from chat.management.commands.search_fill import PLANTED

    call_command("search_fill", messages=400, rooms=4, users=3, matching=5, stdout=io.StringIO())
    reader = User.objects.get(username="sb-user-0")
    assert len(found(reader, PLANTED[0], limit=50)) == 5
    assert (
        Room.objects.get(slug="sb-0").last_seq == Message.objects.filter(room__slug="sb-0").count()
    )
    # The index was dropped and rebuilt around the bulk insert: new writes are indexed.
    room = Room.objects.get(slug="sb-1")
    assert found(reader, "aardvarkish") == []
    pk = post(reader, room, "an aardvarkish remark")
    assert found(reader, "aardvarkish") == [pk]
