"""Message rules in the service layer: validation, seq, idempotency, publish on commit."""

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import override_settings

from chat import selectors, services
from chat.errors import ChatError
from chat.models import Message, Room
from tests.published import intercept, saved_seqs


def post(room: Room, user: User, body: str, client_id: str) -> selectors.MessageOut:
    return services.message_post(room_id=room.pk, author=user, body=body, client_id=client_id)


@pytest.mark.django_db(transaction=True)
def test_messages_get_consecutive_seqs_and_are_saved(room: Room, alice: User) -> None:
    first = post(room, alice, "one", "c1")
    second = post(room, alice, "two", "c2")
    assert (first["seq"], second["seq"]) == (1, 2)
    assert list(Message.objects.filter(room=room).values_list("body", flat=True)) == ["one", "two"]
    assert second == {
        "id": second["id"],
        "room": "general",
        "seq": 2,
        "author": "alice",
        "author_display_name": "alice",  # no display name set: the username
        "author_avatar": "/api/users/alice/avatar/?v=0",
        "author_bot": False,
        "author_icon_emoji": None,
        "body": "two",
        "html": "<p>two</p>",
        "reply_to": None,
        "created_at": second["created_at"],
        "client_id": "c2",
        "edited_at": None,
        "kind": "user",
        "attachment": None,
        "mentions": [],
        "group_mention": None,
        "reactions": [],
        "thread": None,
        "also_to_room": False,
        "thread_summary": None,
        "deleted": False,
    }


@pytest.mark.django_db(transaction=True)
def test_same_client_id_returns_the_original_message(room: Room, alice: User, bob: User) -> None:
    original = post(room, alice, "hello", "same")
    again = post(room, alice, "hello (resent)", "same")
    assert again == original
    # The id is per author: bob may use the same client_id.
    assert post(room, bob, "mine", "same")["seq"] == 2
    assert Message.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
def test_blank_body_is_refused(room: Room, alice: User, body: str) -> None:
    with pytest.raises(ChatError) as caught:
        post(room, alice, body, "c")
    assert caught.value.code == "empty_body"
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_MAX_BODY_CHARS=10)
def test_body_limit_is_a_setting(room: Room, alice: User) -> None:
    assert post(room, alice, "x" * 10, "ok")["body"] == "x" * 10
    with pytest.raises(ChatError) as caught:
        post(room, alice, "x" * 11, "long")
    assert caught.value.code == "body_too_long"
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_message_is_published_only_after_commit(
    room: Room, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = intercept(monkeypatch)

    def post_then_fail() -> None:
        with transaction.atomic():
            post(room, alice, "rolled back", "r1")
            assert published == []
            raise RuntimeError("abort the outer transaction")

    with pytest.raises(RuntimeError):
        post_then_fail()
    assert published == []
    assert not Message.objects.exists()
    post(room, alice, "kept", "k1")
    assert [seq for _, seq in saved_seqs(published)] == [1]  # the rolled-back seq was released


@pytest.mark.django_db(transaction=True)
def test_history_returns_newest_page_oldest_first(room: Room, alice: User) -> None:
    for n in range(60):
        post(room, alice, f"m{n}", f"c{n}")
    page = selectors.message_list(room_id=room.pk)
    assert [m["seq"] for m in page] == list(range(11, 61))
    older = selectors.message_list(room_id=room.pk, before=11, limit=5)
    assert [m["seq"] for m in older] == [6, 7, 8, 9, 10]
    newer = selectors.message_list(room_id=room.pk, after=57)
    assert [m["seq"] for m in newer] == [58, 59, 60]


@pytest.mark.django_db(transaction=True)
def test_room_create_and_lookup(alice: User) -> None:
    created = services.room_create(slug="ops", name="Ops", topic="on call", creator=alice)
    assert selectors.room_get(slug="ops") == {
        "id": created.pk,
        "slug": "ops",
        "name": "Ops",
        "topic": "on call",
        "last_seq": 0,
        "is_private": False,
        "is_direct": False,
        "is_locked": False,
        "owner_id": alice.pk,
    }
    assert selectors.room_get(slug="nope") is None
    with pytest.raises(ChatError) as taken:
        services.room_create(slug="ops", name="Again", topic="", creator=alice)
    assert taken.value.code == "slug_taken"
    assert Room.objects.get(slug="ops").name == "Ops"
