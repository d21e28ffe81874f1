"""Reactions: the allowed emoji, the service's rules (cap, access, hidden messages,
idempotency), `me` per reader in history and the API, one query for a page's reactions,
and the live `reaction` frame on both WebSocket endpoints."""

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from chat import selectors, services
from chat.content import emoji
from chat.errors import ChatError
from chat.models import Reaction, Room
from tests.published import post_unpublished

Open = Callable[..., Any]


# --- the allowed set (pure) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("👍", "👍"),
        ("❤️", "❤️"),  # as listed, with U+FE0F
        ("❤", "❤️"),  # a keyboard that leaves U+FE0F out
        ("🧑‍💻", "🧑‍💻"),  # a ZWJ sequence on the list
        ("✅", "✅"),
    ],
)
def test_listed_emoji_are_taken_in_their_stored_spelling(given: str, stored: str) -> None:
    assert emoji.emoji_clean(given) == stored


@pytest.mark.parametrize(
    "given",
    ["", "a", "+1", ":thumbsup:", "👍👍", "👍🏻", "<b>", "👍\u200d", "\u202e👍", "x" * 1000],
)
def test_anything_else_is_refused(given: str) -> None:
    assert emoji.emoji_clean(given) is None


def test_the_set_is_bounded_and_offers_its_common_row() -> None:
    assert 100 < len(emoji.ALLOWED) < 1000
    assert len(set(emoji.ALLOWED)) == len(emoji.ALLOWED)
    assert all(emoji.emoji_clean(e) == e for e in emoji.COMMON + emoji.ALLOWED)
    assert max(map(len, emoji.ALLOWED)) <= emoji.MAX_EMOJI_CHARS


# --- the service ----------------------------------------------------------------------


def react(user: User, message_id: int, text: str = "👍", *, added: bool = True) -> Any:
    return services.reaction_set(message_id=message_id, user=user, emoji_text=text, added=added)


@pytest.mark.django_db
def test_add_and_remove_count_per_emoji_and_are_idempotent(
    room: Room, alice: User, bob: User
) -> None:
    message = services.message_post(room_id=room.pk, author=alice, body="ship it", client_id="c")
    frame, changed = react(alice, message["id"])
    assert changed
    assert frame == {
        "type": "reaction",
        "room": "general",
        "message_id": message["id"],
        "emoji": "👍",
        "count": 1,
        "username": "alice",
        "added": True,
    }
    assert react(alice, message["id"]) == (frame, False)  # again: nothing changes
    frame, changed = react(bob, message["id"], "👍")
    assert (frame["count"], changed) == (2, True)
    frame, changed = react(alice, message["id"], added=False)
    assert (frame["count"], frame["added"], changed) == (1, False, True)
    assert react(alice, message["id"], added=False)[1] is False
    assert list(Reaction.objects.values_list("user__username", "emoji")) == [("bob", "👍")]


@pytest.mark.django_db
@override_settings(CHAT_REACTIONS_MAX_PER_MESSAGE=2)
def test_distinct_emoji_per_message_are_capped(room: Room, alice: User, bob: User) -> None:
    message_id = services.message_post(room_id=room.pk, author=alice, body="x", client_id="c")["id"]
    react(alice, message_id, "👍")
    react(alice, message_id, "🎉")
    with pytest.raises(ChatError) as refused:
        react(bob, message_id, "👀")
    assert refused.value.code == "too_many_reactions"
    assert react(bob, message_id, "🎉")[0]["count"] == 2  # one already there: fine


@pytest.mark.django_db
def test_bad_emoji_hidden_messages_and_unreadable_rooms_are_refused(
    room: Room, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    message_id = services.message_post(room_id=room.pk, author=alice, body="x", client_id="c")["id"]
    with pytest.raises(ChatError) as bad:
        react(bob, message_id, "lol")
    assert bad.value.code == "bad_emoji"
    secret = services.room_create(slug="s", name="S", topic="", creator=alice, is_private=True)
    private_id = services.message_post(room_id=secret.pk, author=alice, body="p", client_id="p")[
        "id"
    ]
    with pytest.raises(ChatError) as outsider:
        react(bob, private_id)
    assert outsider.value.code == "not_found"  # not told the message exists
    staff = make_user("mod", is_staff=True)
    services.message_delete(message_id=message_id, user=staff)
    for added in (True, False):
        with pytest.raises(ChatError) as hidden:
            react(bob, message_id, added=added)
        assert hidden.value.code == "not_found"
    with pytest.raises(ChatError) as missing:
        react(bob, 10**9)
    assert missing.value.code == "not_found"


@pytest.mark.django_db
def test_muted_users_and_locked_rooms_cannot_react(
    room: Room, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    message_id = services.message_post(room_id=room.pk, author=alice, body="x", client_id="c")["id"]
    staff = make_user("mod", is_staff=True)
    services.sanction_create(kind="mute", user=bob, room=room, reason="r", actor=staff)
    with pytest.raises(ChatError) as muted:
        react(bob, message_id)
    assert muted.value.code == "muted"
    services.room_lock(room=room, locked=True, actor=staff)
    with pytest.raises(ChatError) as locked:
        react(alice, message_id)
    assert locked.value.code == "room_locked"
    assert react(staff, message_id)[1] is True


@pytest.mark.django_db
def test_history_says_me_for_its_reader_only(room: Room, alice: User, bob: User) -> None:
    message_id = services.message_post(room_id=room.pk, author=alice, body="x", client_id="c")["id"]
    react(alice, message_id, "🎉")
    react(bob, message_id, "🎉")
    react(bob, message_id, "👀")
    mine = selectors.message_list(room_id=room.pk, reader_id=alice.pk)[0]["reactions"]
    assert mine == [
        {"emoji": "🎉", "count": 2, "me": True},
        {"emoji": "👀", "count": 1, "me": False},  # in the order they were first used
    ]
    shared = selectors.message_list(room_id=room.pk)[0]["reactions"]  # a frame for all
    assert [r["me"] for r in shared] == [False, False]
    history = selectors.message_history(room_id=room.pk, after=None, limit=50, reader_id=bob.pk)
    assert [r["me"] for r in history["messages"][0]["reactions"]] == [True, True]
    backlog = selectors.message_backlogs(after={room.pk: 0}, limit=50, reader_id=bob.pk)
    assert backlog[room.pk]["messages"][0]["reactions"] == history["messages"][0]["reactions"]


@pytest.mark.django_db
def test_a_page_of_reactions_costs_one_query_however_many_messages(
    room: Room, alice: User, bob: User
) -> None:
    def queries(count: int) -> int:
        for index in range(count):
            posted = services.message_post(
                room_id=room.pk, author=alice, body=f"m{index}", client_id=f"{count}-{index}"
            )
            react(bob, posted["id"], "👍")
            react(alice, posted["id"], "🎉")
        with CaptureQueriesContext(connection) as captured:
            page = selectors.message_list(room_id=room.pk, limit=count, reader_id=bob.pk)
        assert all(len(message["reactions"]) == 2 for message in page)
        return len(captured)

    assert queries(1) == queries(30) == 2  # the messages, then their reactions


# --- HTTP -------------------------------------------------------------------------------


def session(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_api_adds_removes_and_lists_reactions(room: Room, alice: User, bob: User) -> None:
    message_id = services.message_post(room_id=room.pk, author=alice, body="x", client_id="c")["id"]
    url = f"/api/rooms/general/messages/{message_id}/reactions/"
    added = session(bob).post(url, {"emoji": "🚀"}, content_type="application/json")
    assert added.status_code == 200, added.content
    assert added.json() == {
        "message_id": message_id,
        "reactions": [{"emoji": "🚀", "count": 1, "me": True}],
    }
    listed = session(alice).get("/api/rooms/general/messages/").json()["messages"]
    assert listed[0]["reactions"] == [{"emoji": "🚀", "count": 1, "me": False}]
    removed = session(bob).delete(url, {"emoji": "🚀"}, content_type="application/json")
    assert removed.json() == {"message_id": message_id, "reactions": []}
    bad = session(bob).post(url, {"emoji": "nope"}, content_type="application/json")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "bad_emoji")
    services.room_create(slug="other", name="Other", topic="", creator=alice)
    elsewhere = session(bob).post(
        f"/api/rooms/other/messages/{message_id}/reactions/",
        {"emoji": "🚀"},
        content_type="application/json",
    )
    assert elsewhere.status_code == 404  # the message is not in that room


# --- WebSocket --------------------------------------------------------------------------


async def opened(open_socket: Open, user: User, path: str) -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, path)
    assert (await comm.connect())[0]
    return comm, await comm.receive_json_from(timeout=3)


@pytest.mark.django_db(transaction=True)
async def test_a_reaction_reaches_every_connection_and_the_next_hello(
    open_socket: Open, room: Room, alice: User, bob: User
) -> None:
    await database_sync_to_async(services.room_join)(user=bob, slug="general")
    posted = await database_sync_to_async(services.message_post)(
        room_id=room.pk, author=alice, body="lunch?", client_id="c"
    )
    alice_ws, _ = await opened(open_socket, alice, "/ws/chat/general/")
    bob_ws, hello = await opened(open_socket, bob, "/ws/chat/")
    assert hello["type"] == "hello"
    await alice_ws.send_json_to({"type": "reaction.add", "message_id": posted["id"], "emoji": "🍕"})
    expected = {
        "type": "reaction",
        "room": "general",
        "message_id": posted["id"],
        "emoji": "🍕",
        "count": 1,
        "username": "alice",
        "added": True,
    }
    assert await alice_ws.receive_json_from(timeout=3) == expected
    assert await bob_ws.receive_json_from(timeout=3) == expected
    # Adding it again changes nothing: answered to this connection only.
    await alice_ws.send_json_to({"type": "reaction.add", "message_id": posted["id"], "emoji": "🍕"})
    assert await alice_ws.receive_json_from(timeout=3) == expected
    assert await bob_ws.receive_nothing(timeout=0.3)
    await bob_ws.send_json_to({"type": "reaction.add", "message_id": posted["id"], "emoji": "?"})
    error = await bob_ws.receive_json_from(timeout=3)
    assert (error["type"], error["code"]) == ("error", "bad_emoji")
    await bob_ws.send_json_to({"type": "reaction.add", "message_id": "x", "emoji": "👍"})
    assert (await bob_ws.receive_json_from(timeout=3))["code"] == "bad_frame"
    # A reaction just before a message comes before it, on every connection.
    await bob_ws.send_json_to({"type": "reaction.add", "message_id": posted["id"], "emoji": "🍕"})
    await bob_ws.send_json_to(
        {"type": "message.send", "room": "general", "body": "yes", "client_id": "b1"}
    )
    seen = [(await alice_ws.receive_json_from(timeout=3))["type"] for _ in range(2)]
    assert seen == ["reaction", "message"]
    _, hello = await opened(open_socket, alice, "/ws/chat/general/")
    assert hello["history"][0]["reactions"] == [{"emoji": "🍕", "count": 2, "me": True}]
    assert hello["history"][1]["reactions"] == []  # the message sent after it


@pytest.mark.django_db(transaction=True)
async def test_a_reaction_never_comes_before_the_message_it_is_about(
    open_socket: Open, room: Room, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    comm, _ = await opened(open_socket, alice, "/ws/chat/general/")
    lost = await post_unpublished(
        monkeypatch, room_id=room.pk, author=alice, body="its event is lost", client_id="lost"
    )
    await database_sync_to_async(react)(alice, lost["id"], "👀")
    first = await comm.receive_json_from(timeout=3)
    second = await comm.receive_json_from(timeout=3)
    # The connection read the message before writing the reaction about it.
    assert (first["type"], first["message"]["id"]) == ("message", lost["id"])
    assert first["message"]["reactions"] == [{"emoji": "👀", "count": 1, "me": False}]
    assert (second["type"], second["message_id"], second["count"]) == ("reaction", lost["id"], 1)


@pytest.mark.django_db
def test_an_edit_keeps_the_reactions_in_its_frame(room: Room, alice: User, bob: User) -> None:
    message_id = services.message_post(room_id=room.pk, author=alice, body="x", client_id="c")["id"]
    react(bob, message_id, "🎉")
    edited = services.message_edit(message_id=message_id, user=alice, body="y")
    assert edited["reactions"] == [{"emoji": "🎉", "count": 1, "me": False}]


@pytest.mark.django_db(transaction=True)
async def test_reactions_draw_from_the_senders_message_budget(
    open_socket: Open, room: Room, alice: User
) -> None:
    posted = await database_sync_to_async(services.message_post)(
        room_id=room.pk, author=alice, body="vote", client_id="c"
    )
    with override_settings(CHAT_MESSAGE_BURST=2, CHAT_MESSAGE_RATE_PER_SECOND=0.01):
        ws, _ = await opened(open_socket, alice, "/ws/chat/general/")
        for kind in ("reaction.add", "reaction.remove"):  # the budget's two tokens
            await ws.send_json_to({"type": kind, "message_id": posted["id"], "emoji": "👍"})
            assert (await ws.receive_json_from(timeout=3))["type"] == "reaction"
        await ws.send_json_to({"type": "reaction.add", "message_id": posted["id"], "emoji": "👍"})
        refused = await ws.receive_json_from(timeout=3)
        assert (refused["type"], refused["code"]) == ("error", "rate_limited")
        assert refused["retry_after"] > 0
        await ws.disconnect()
        url = f"/api/rooms/general/messages/{posted['id']}/reactions/"
        api = await database_sync_to_async(session)(alice)
        answer = await database_sync_to_async(api.post)(
            url, {"emoji": "👍"}, content_type="application/json"
        )
        assert answer.status_code == 429
    assert not await database_sync_to_async(Reaction.objects.exists)()
