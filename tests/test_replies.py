"""Replies and rendered html on the write and read paths (issue #16): the service, the
group-commit batch, the hand-written history SQL, both WebSocket endpoints and the API."""

import importlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chat import selectors, services
from chat.errors import ChatError
from chat.models import Message, Room
from chat.protocol import parsing
from chat.services.posting import SendRequest, message_post_many

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]


def post(
    room: Room, user: User, body: str, client_id: str, reply_to: int | None = None
) -> selectors.MessageOut:
    return services.message_post(
        room_id=room.pk, author=user, body=body, client_id=client_id, reply_to=reply_to
    )


@pytest.fixture
def other_room(db: None) -> Room:
    return Room.objects.create(slug="other", name="Other")


def test_a_reply_carries_what_it_answers_and_its_html(room: Room, alice: User, bob: User) -> None:
    original = post(room, alice, "Deploy **today**?\nSay yes  or   no", "q")
    assert original["html"] == "<p>Deploy <strong>today</strong>?<br>\nSay yes  or   no</p>"
    assert original["reply_to"] is None
    reply = post(room, bob, "yes, see https://ci.example.com", "a", reply_to=original["id"])
    expected = {
        "id": original["id"],
        "seq": original["seq"],
        "author": "alice",
        "excerpt": "Deploy **today**? Say yes or no",  # plain text, one line
        "deleted": False,
    }
    assert reply["reply_to"] == expected
    assert 'href="https://ci.example.com"' in reply["html"]
    # The same from the hand-written SQL (history, resume) and the ORM path (a resend).
    assert selectors.message_list(room_id=room.pk)[-1]["reply_to"] == expected
    assert post(room, bob, "yes (resent)", "a", reply_to=original["id"]) == reply


def test_the_excerpt_is_short(room: Room, alice: User, bob: User) -> None:
    original = post(room, alice, "word " * 300, "long")
    reply = post(room, bob, "tl;dr", "r", reply_to=original["id"])
    assert reply["reply_to"] is not None
    assert len(reply["reply_to"]["excerpt"]) == selectors.messages.REPLY_EXCERPT_CHARS
    assert reply["reply_to"]["excerpt"].endswith("…")


@pytest.mark.parametrize("target", ["other_room", "deleted", "missing"])
def test_a_reply_must_answer_a_shown_message_of_the_same_room(
    room: Room, other_room: Room, alice: User, bob: User, target: str
) -> None:
    if target == "other_room":
        answered = post(other_room, alice, "elsewhere", "x")["id"]
    elif target == "deleted":
        answered = post(room, alice, "soon gone", "x")["id"]
        services.message_delete(message_id=answered, user=alice)
    else:
        answered = 10**9
    before = Message.objects.count()
    with pytest.raises(ChatError) as caught:
        post(room, bob, "re", "r", reply_to=answered)
    assert caught.value.code == "bad_reply"
    assert Message.objects.count() == before
    assert Room.objects.get(pk=room.pk).last_seq == Message.objects.filter(room=room).count()


def test_a_reply_to_a_message_deleted_later_shows_deleted_never_its_text(
    room: Room, alice: User, bob: User
) -> None:
    original = post(room, alice, "a secret I regret", "q")
    reply = post(room, bob, "what?", "r", reply_to=original["id"])
    services.message_delete(message_id=original["id"], user=alice)
    gone = {"id": original["id"], "seq": original["seq"], "author": None, "excerpt": ""}
    shown = selectors.message_list(room_id=room.pk)
    assert [m["id"] for m in shown] == [reply["id"]]
    assert shown[0]["reply_to"] == {**gone, "deleted": True}
    assert "secret" not in json.dumps(shown)
    # An edit of the reply (the ORM path) says the same.
    edited = services.message_edit(message_id=reply["id"], user=bob, body="what? _really_")
    assert edited["reply_to"] == {**gone, "deleted": True}
    assert edited["html"] == "<p>what? <em>really</em></p>"
    # A resend of the reply after the deletion still answers with the saved message.
    assert post(room, bob, "what?", "r", reply_to=original["id"])["id"] == reply["id"]


def test_history_reads_replies_in_a_fixed_number_of_queries(
    room: Room, alice: User, bob: User
) -> None:
    first = post(room, alice, "one", "1")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page = selectors.message_list(room_id=room.pk)
        assert page[-1]["reply_to"] is not None
        return len(captured)

    post(room, bob, "re", "r0", reply_to=first["id"])
    few = queries()
    for n in range(1, 20):
        post(room, bob if n % 2 else alice, f"re {n}", f"r{n}", reply_to=first["id"])
    assert queries() == few  # a LEFT JOIN, not a query per reply


def test_a_batch_refuses_a_bad_reply_alone(
    room: Room, other_room: Room, alice: User, bob: User
) -> None:
    here = post(room, alice, "here", "h")
    there = post(other_room, alice, "there", "t")
    outcomes = message_post_many(
        [
            SendRequest(room.pk, bob, "good", "b1", reply_to=here["id"]),
            SendRequest(room.pk, bob, "bad", "b2", reply_to=there["id"]),
            SendRequest(room.pk, bob, "**plain**", "b3"),
        ]
    )
    good, bad, plain = outcomes
    assert isinstance(good, dict)
    assert good["reply_to"] is not None
    assert good["reply_to"]["id"] == here["id"]
    assert isinstance(bad, ChatError)
    assert bad.code == "bad_reply"
    assert isinstance(plain, dict)
    assert plain["html"] == "<p><strong>plain</strong></p>"
    assert plain["reply_to"] is None
    assert [m["seq"] for m in selectors.message_list(room_id=room.pk)] == [1, 2, 3]


def test_system_messages_and_mentions_are_rendered(room: Room, alice: User, bob: User) -> None:
    services.room_join(user=bob, slug=room.slug)
    system = services.message_post_system(room_id=room.pk, body="Deploy at *17:00*")
    assert system["html"] == "<p>Deploy at <em>17:00</em></p>"
    mention = post(room, alice, "ping @Bob and @carol", "m")
    assert mention["html"] == (
        '<p>ping <span class="mention" data-user="bob">@Bob</span> and @carol</p>'
    )


@pytest.mark.parametrize(
    ("value", "ok"), [(None, True), (5, True), (0, False), ("5", False), (True, False)]
)
def test_message_send_parses_reply_to(value: object, ok: bool) -> None:
    frame = json.dumps({"type": "message.send", "body": "x", "client_id": "c", "reply_to": value})
    if ok:
        command = parsing.parse_frame(frame)
        assert isinstance(command, parsing.SendMessage)
        assert command.reply_to == value
    else:
        with pytest.raises(ChatError) as caught:
            parsing.parse_frame(frame)
        assert (caught.value.code, caught.value.client_id) == ("bad_frame", "c")


async def next_of(comm: Any, kind: str) -> dict[str, Any]:
    for _ in range(20):
        frame: dict[str, Any] = await comm.receive_json_from(timeout=5)
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


@pytest.mark.parametrize("path", ["/ws/chat/general/", "/ws/chat/"])
async def test_reply_over_both_websocket_endpoints(
    open_socket: Open, alice: User, bob: User, room: Room, other_room: Room, path: str
) -> None:
    for user in (alice, bob):
        await database_sync_to_async(services.room_join)(user=user, slug=room.slug)
    original = await database_sync_to_async(post)(room, alice, "`make test` fails", "q")
    elsewhere = await database_sync_to_async(post)(other_room, alice, "elsewhere", "e")
    comm = await open_socket(bob, path)
    assert (await comm.connect())[0]
    await next_of(comm, "hello")
    named = {"room": room.slug} if path == "/ws/chat/" else {}
    send = {"type": "message.send", "body": "on it", "client_id": "r1", **named}
    await comm.send_to(text_data=json.dumps({**send, "reply_to": original["id"]}))
    ack = await next_of(comm, "ack")
    assert ack["message"]["reply_to"] == {
        "id": original["id"],
        "seq": original["seq"],
        "author": "alice",
        "excerpt": "`make test` fails",
        "deleted": False,
    }
    assert ack["message"]["html"] == "<p>on it</p>"
    await comm.send_to(
        text_data=json.dumps({**send, "client_id": "r2", "reply_to": elsewhere["id"]})
    )
    error = await next_of(comm, "error")
    assert (error["code"], error["client_id"]) == ("bad_reply", "r2")
    await comm.disconnect()


def test_reply_over_the_api(room: Room, other_room: Room, alice: User, bob: User) -> None:
    original = post(room, alice, "question", "q")
    elsewhere = post(other_room, alice, "elsewhere", "e")
    client = Client()
    client.force_login(bob)
    url = f"/api/rooms/{room.slug}/messages/"

    def send(data: dict[str, Any]) -> Any:
        return client.post(url, json.dumps(data), content_type="application/json")

    created = send({"body": "answer", "client_id": "a", "reply_to": original["id"]})
    assert created.status_code == 201
    assert created.json()["reply_to"]["id"] == original["id"]
    assert created.json()["html"] == "<p>answer</p>"
    refused = send({"body": "no", "client_id": "b", "reply_to": elsewhere["id"]})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "bad_reply")
    plain = send({"body": "no reply", "client_id": "c", "reply_to": None})
    assert plain.status_code == 201
    assert plain.json()["reply_to"] is None
    page = client.get(url).json()["messages"]
    assert [m["reply_to"] and m["reply_to"]["id"] for m in page] == [None, original["id"], None]


def test_migration_0008_renders_the_messages_saved_before_html(
    room: Room, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.room_join(user=bob, slug=room.slug)
    for n in range(5):
        post(room, alice, f"**{n}** for @bob", f"m{n}")
    Message.objects.update(html="")
    migration = importlib.import_module("chat.migrations.0008_render_existing_html")
    monkeypatch.setattr(migration, "BATCH", 2)  # several batches
    migration.render_existing(django_apps, None)
    assert list(Message.objects.order_by("seq").values_list("html", flat=True)) == [
        f'<p><strong>{n}</strong> for <span class="mention" data-user="bob">@bob</span></p>'
        for n in range(5)
    ]


def test_migration_0010_renders_shortcodes_in_messages_saved_before(
    room: Room, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        post(room, alice, f":tada: {n} `:tada:`" if n % 2 else f"plain {n}", f"s{n}")
    # As saved before #23: the shortcode as text.
    for message in Message.objects.filter(body__contains=":"):
        message.html = message.html.replace("🎉", ":tada:", 1)
        message.save(update_fields=["html"])
    migration = importlib.import_module("chat.migrations.0010_render_shortcodes")
    monkeypatch.setattr(migration, "BATCH", 1)  # several batches
    migration.render_shortcodes(django_apps, None)
    assert list(Message.objects.order_by("seq").values_list("html", flat=True)) == [
        f"<p>🎉 {n} <code>:tada:</code></p>" if n % 2 else f"<p>plain {n}</p>" for n in range(5)
    ]
