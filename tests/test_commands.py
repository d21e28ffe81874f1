"""Slash commands (docs/protocol.md, "Slash commands"): command.run on the all-rooms
socket, the built-ins through chat's services, custom commands POSTed as Slack sends
them to a real HTTP receiver on 127.0.0.1, ephemeral answers to the caller alone and
never stored, in_channel answers posted as the caller's message, response_url's five
posts in thirty minutes, and `manage.py command create`. Channels' WebsocketCommunicator
on the real ASGI application."""

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from chat import services
from chat.models import Membership, Message, NotifyPrefs, Room
from chat.protocol.command_frames import BUILTIN_NAMES
from integrations.commands import command_create
from integrations.models import CommandResponse, SlashCommand

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]


# --- a real receiver on loopback -------------------------------------------------------


class Receiver:
    """An HTTP server on 127.0.0.1 that records each form it is sent and answers with
    what the test set (status, body, delay)."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.content_types: list[str] = []
        self.status = 200
        self.body: bytes = b""
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.forms.append({k: v[0] for k, v in parse_qs(raw).items()})
                time.sleep(receiver.delay)  # a slow command (runs in the server's thread)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(receiver.body)))
                    self.end_headers()
                    self.wfile.write(receiver.body)
                except OSError:
                    pass  # the caller gave up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cmd"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, data: object, *, status: int = 200, delay: float = 0.0) -> None:
        self.body = json.dumps(data).encode() if not isinstance(data, bytes) else data
        self.status, self.delay = status, delay


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    with override_settings(CHAT_WEBHOOK_ALLOW_HOSTS=["127.0.0.1"]):
        yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture(autouse=True)
def no_default_rooms(transactional_db: None) -> None:
    Room.objects.filter(is_default=True).delete()


@pytest.fixture
def weather(receiver: Receiver) -> SlashCommand:
    return command_create(
        name="weather", url=receiver.url, description="The weather", usage="[city]"
    )


# --- helpers ---------------------------------------------------------------------------


async def connect(open_socket: Open, user: User) -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, "/ws/chat/")
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello", hello
    return comm, hello


async def run(comm: Any, room: str, command: str, text: str = "") -> None:
    frame = {"type": "command.run", "room": room, "command": command, "text": text}
    await comm.send_to(text_data=json.dumps(frame))


async def next_of(comm: Any, kind: str, timeout: float = 5) -> dict[str, Any]:
    frame: dict[str, Any] = await comm.receive_json_from(timeout=timeout)
    assert frame["type"] == kind, frame
    return frame


@database_sync_to_async
def join(user: User, slug: str) -> None:
    services.room_join(user=user, slug=slug)


@database_sync_to_async
def messages_of(room: Room) -> list[Message]:
    return list(Message.objects.filter(room=room).order_by("seq"))


# --- hello and the frame ---------------------------------------------------------------


async def test_hello_lists_the_built_ins_and_enabled_custom_commands(
    open_socket: Open, alice: User, room: Room, weather: SlashCommand
) -> None:
    await database_sync_to_async(SlashCommand.objects.create)(
        name="off", url="http://127.0.0.1/", token="t", enabled=False
    )
    await join(alice, room.slug)
    _comm, hello = await connect(open_socket, alice)
    names = [entry["name"] for entry in hello["commands"]]
    assert set(names) == BUILTIN_NAMES | {"weather"}
    assert {"name": "weather", "description": "The weather", "usage": "[city]"} in hello["commands"]
    per_room = await open_socket(alice, f"/ws/chat/{room.slug}/")
    assert (await per_room.connect())[0]
    room_hello = await per_room.receive_json_from(timeout=5)
    assert room_hello["commands"] == hello["commands"]


async def test_an_unknown_command_is_an_unknown_command_error(
    open_socket: Open, alice: User, room: Room
) -> None:
    await join(alice, room.slug)
    comm, _ = await connect(open_socket, alice)
    await run(comm, room.slug, "/nosuch", "x")
    error = await next_of(comm, "error")
    assert (error["code"], error["room"]) == ("unknown_command", room.slug)


async def test_a_malformed_command_run_is_a_bad_frame(
    open_socket: Open, alice: User, room: Room
) -> None:
    await join(alice, room.slug)
    comm, _ = await connect(open_socket, alice)
    for bad in ({"command": "shrug"}, {"command": "/a b"}, {"command": "/me", "text": 5}):
        await comm.send_to(text_data=json.dumps({"type": "command.run", "room": room.slug, **bad}))
        assert (await next_of(comm, "error"))["code"] == "bad_frame"


# --- built-ins -------------------------------------------------------------------------


async def test_me_and_shrug_post_the_callers_message(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await join(alice, room.slug)
    await join(bob, room.slug)
    comm, _ = await connect(open_socket, alice)
    watcher, _ = await connect(open_socket, bob)
    await run(comm, room.slug, "/me", "waves")
    seen = await next_of(watcher, "message")
    assert seen["message"]["author"] == "alice"
    assert seen["message"]["html"] == "<p><em>waves</em></p>"
    await run(comm, room.slug, "/shrug", "who knows")
    shrug = await next_of(watcher, "message")
    assert shrug["message"]["body"] == "who knows ¯\\_(ツ)_/¯"
    assert "¯\\_(ツ)_/¯" in shrug["message"]["html"]
    assert [m.body for m in await messages_of(room)] == ["waves", "who knows ¯\\_(ツ)_/¯"]


async def test_topic_is_set_by_the_owner_and_refused_to_others_ephemerally(
    open_socket: Open, alice: User, bob: User
) -> None:
    owned = await database_sync_to_async(services.room_create)(
        slug="ops", name="Ops", topic="", creator=alice
    )
    await join(bob, owned.slug)
    owner, _ = await connect(open_socket, alice)
    other, _ = await connect(open_socket, bob)
    await run(other, owned.slug, "/topic", "mine now")
    refused = await next_of(other, "ephemeral")
    assert refused["room"] == "ops"
    assert "owner or staff" in refused["text"]
    await run(owner, owned.slug, "/topic", "Deploys and alerts")
    told = await next_of(other, "message")
    assert told["message"]["body"] == "@alice set the topic: Deploys and alerts"
    # The header redraws live, on every connection of the room.
    updated = await next_of(other, "room.updated")
    assert updated == {"type": "room.updated", "room": "ops", "topic": "Deploys and alerts"}
    await database_sync_to_async(owned.refresh_from_db)()
    assert owned.topic == "Deploys and alerts"


async def test_join_and_leave_change_the_sidebar(
    open_socket: Open, alice: User, room: Room
) -> None:
    await database_sync_to_async(Room.objects.create)(slug="random", name="Random")
    await join(alice, room.slug)
    comm, _ = await connect(open_socket, alice)
    await run(comm, room.slug, "/join", "#random")
    frames = [await comm.receive_json_from(timeout=5) for _ in range(2)]
    kinds = {frame["type"]: frame for frame in frames}
    assert kinds["room.joined"]["room"]["slug"] == "random"
    assert kinds["ephemeral"]["text"] == "You joined #random."
    await run(comm, "random", "/leave")
    left = await next_of(comm, "room.left")
    assert left["room"] == "random"
    assert not await database_sync_to_async(
        Membership.objects.filter(user=alice, room__slug="random").exists
    )()


async def test_invite_adds_a_member_to_a_private_room_only_by_its_owner(
    open_socket: Open, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    carol = await database_sync_to_async(make_user)("carol")
    private = await database_sync_to_async(services.room_create)(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )
    await database_sync_to_async(services.membership_add)(room=private, user=bob, actor=alice)
    owner, _ = await connect(open_socket, alice)
    member, _ = await connect(open_socket, bob)
    await run(member, "secret", "/invite", "@carol")
    assert "owner or staff" in (await next_of(member, "ephemeral"))["text"]
    await run(owner, "secret", "/invite", "@carol")
    assert (await next_of(owner, "ephemeral"))["text"] == "@carol is now a member of #secret."
    assert await database_sync_to_async(
        Membership.objects.filter(user=carol, room=private).exists
    )()


async def test_mute_unmute_and_dnd_change_the_notification_settings(
    open_socket: Open, alice: User, room: Room
) -> None:
    await join(alice, room.slug)
    comm, _ = await connect(open_socket, alice)
    await run(comm, room.slug, "/mute")
    frames = {f["type"]: f for f in [await comm.receive_json_from(timeout=5) for _ in range(2)]}
    assert frames["room.notify"]["level"] == "nothing"
    assert "muted" in frames["ephemeral"]["text"]
    await run(comm, room.slug, "/unmute")
    frames = {f["type"]: f for f in [await comm.receive_json_from(timeout=5) for _ in range(2)]}
    assert frames["room.notify"]["level"] == ""
    await run(comm, room.slug, "/dnd", "30")
    frames = {f["type"]: f for f in [await comm.receive_json_from(timeout=5) for _ in range(2)]}
    assert frames["notify.prefs"]["paused_until"] is not None
    prefs = await database_sync_to_async(NotifyPrefs.objects.get)(user=alice)
    assert prefs.paused_until is not None
    assert timedelta(minutes=29) < prefs.paused_until - timezone.now() <= timedelta(minutes=30)
    await run(comm, room.slug, "/dnd", "off")
    frames = {f["type"]: f for f in [await comm.receive_json_from(timeout=5) for _ in range(2)]}
    assert frames["notify.prefs"]["paused_until"] is None
    await run(comm, room.slug, "/dnd", "soon")
    assert "Usage: /dnd" in (await next_of(comm, "ephemeral"))["text"]


async def test_help_lists_every_command_to_the_caller_alone(
    open_socket: Open, alice: User, bob: User, room: Room, weather: SlashCommand
) -> None:
    await join(alice, room.slug)
    await join(bob, room.slug)
    comm, _ = await connect(open_socket, alice)
    other, _ = await connect(open_socket, bob)
    await run(comm, room.slug, "/help")
    shown = await next_of(comm, "ephemeral")
    assert "/dnd &lt;minutes&gt;|off" in shown["html"]
    assert "/weather [city]" in shown["text"]
    assert await other.receive_nothing(timeout=0.3)
    assert await messages_of(room) == []


# --- custom commands -------------------------------------------------------------------


async def test_a_custom_command_gets_slacks_form_and_answers_ephemerally(
    open_socket: Open, alice: User, bob: User, room: Room, receiver: Receiver, weather: SlashCommand
) -> None:
    await join(alice, room.slug)
    await join(bob, room.slug)
    receiver.answer(
        {
            "response_type": "ephemeral",
            "text": "*Sunny* in Paris",
            "attachments": [{"color": "#36a64f", "title": "Tomorrow", "text": "Rain"}],
        }
    )
    comm, _ = await connect(open_socket, alice)
    other, _ = await connect(open_socket, bob)
    await run(comm, room.slug, "/weather", "Paris")
    shown = await next_of(comm, "ephemeral")
    assert shown["room"] == room.slug
    assert "<strong>Sunny</strong> in Paris" in shown["html"]
    assert 'class="card"' in shown["html"]
    assert "Tomorrow" in shown["text"]
    (form,) = receiver.forms
    assert receiver.content_types == ["application/x-www-form-urlencoded"]
    assert set(form) == {
        "token",
        "command",
        "text",
        "user_id",
        "user_name",
        "channel_id",
        "channel_name",
        "response_url",
        "trigger_id",
    }
    assert form["token"] == weather.token
    assert (form["command"], form["text"], form["user_name"]) == ("/weather", "Paris", "alice")
    assert (form["channel_id"], form["channel_name"]) == (str(room.pk), room.slug)
    assert form["user_id"] == str(alice.pk)
    assert "/commands/respond/" in form["response_url"]
    assert await other.receive_nothing(timeout=0.3)  # the caller's alone
    assert await messages_of(room) == []  # never stored


async def test_an_in_channel_answer_is_the_callers_message_with_the_command_shown(
    open_socket: Open, alice: User, bob: User, room: Room, receiver: Receiver, weather: SlashCommand
) -> None:
    await join(alice, room.slug)
    await join(bob, room.slug)
    receiver.answer({"response_type": "in_channel", "text": "Paris: 21 °C"})
    comm, _ = await connect(open_socket, alice)
    other, _ = await connect(open_socket, bob)
    await run(comm, room.slug, "/weather", "Paris")
    seen = (await next_of(other, "message"))["message"]
    assert seen["author"] == "alice"
    assert not seen["author_bot"]
    assert seen["html"].startswith("<p><code>/weather Paris</code></p>")
    assert "Paris: 21 °C" in seen["html"]
    (saved,) = await messages_of(room)
    assert saved.body == "/weather Paris\nParis: 21 °C"


@override_settings(CHAT_COMMAND_TIMEOUT_SECONDS=0.5)
async def test_a_slow_or_failing_command_is_explained_to_the_caller(
    open_socket: Open, alice: User, room: Room, receiver: Receiver, weather: SlashCommand
) -> None:
    await join(alice, room.slug)
    comm, _ = await connect(open_socket, alice)
    receiver.answer({"text": "late"}, delay=1.5)
    await run(comm, room.slug, "/weather")
    late = await next_of(comm, "ephemeral")
    assert late["text"] == "/weather did not answer within 0.5 s.", late
    receiver.answer({"text": "boom"}, status=500)
    await run(comm, room.slug, "/weather")
    assert "HTTP 500" in (await next_of(comm, "ephemeral"))["text"]
    receiver.answer(b"{not json")
    await run(comm, room.slug, "/weather")
    assert (await next_of(comm, "ephemeral"))["text"] == "{not json"
    receiver.answer({"attachments": "nope"})
    await run(comm, room.slug, "/weather")
    assert "invalid_payload" in (await next_of(comm, "ephemeral"))["text"]
    assert await messages_of(room) == []


async def test_a_command_on_a_private_address_is_refused_without_a_connection(
    open_socket: Open, alice: User, room: Room, receiver: Receiver
) -> None:
    await database_sync_to_async(command_create)(name="local", url=receiver.url)
    await join(alice, room.slug)
    comm, _ = await connect(open_socket, alice)
    with override_settings(CHAT_WEBHOOK_ALLOW_HOSTS=[]):
        await run(comm, room.slug, "/local")
        shown = await next_of(comm, "ephemeral")
    assert "127.0.0.1 is a loopback address" in shown["text"]
    assert receiver.forms == []


# --- response_url ----------------------------------------------------------------------


async def test_response_url_takes_five_posts_to_the_caller_then_refuses(
    open_socket: Open, alice: User, bob: User, room: Room, receiver: Receiver, weather: SlashCommand
) -> None:
    await join(alice, room.slug)
    await join(bob, room.slug)
    comm, _ = await connect(open_socket, alice)
    other, _ = await connect(open_socket, bob)
    await run(comm, room.slug, "/weather", "Oslo")  # an empty 200: nothing now
    assert await comm.receive_nothing(timeout=0.5)
    path = urlsplit(receiver.forms[0]["response_url"]).path
    client = Client()

    def post(data: object) -> Any:
        return client.post(path, json.dumps(data), content_type="application/json")

    later = await database_sync_to_async(post)({"text": "Still snowing"})
    assert (later.status_code, later.content) == (200, b"ok")
    shown = await next_of(comm, "ephemeral")
    assert (shown["room"], shown["text"]) == (room.slug, "Still snowing")
    shared = await database_sync_to_async(post)({"response_type": "in_channel", "text": "-3 °C"})
    assert shared.status_code == 200
    seen = (await next_of(other, "message"))["message"]
    assert seen["author"] == "alice"
    assert "-3 °C" in seen["html"]
    for _ in range(3):
        assert (await database_sync_to_async(post)({"text": "again"})).status_code == 200
    refused = await database_sync_to_async(post)({"text": "sixth"})
    assert (refused.status_code, refused.content) == (404, b"used_url")
    assert (await database_sync_to_async(post)({"nothing": 1})).status_code in (400, 404)
    assert [m.body for m in await messages_of(room)] == ["/weather\n-3 °C"]


def test_response_url_expires_after_thirty_minutes(
    alice: User, room: Room, weather: SlashCommand
) -> None:
    from integrations.commands import response_url_create

    secret = response_url_create(command_id=weather.pk, user=alice, room_id=room.pk)
    CommandResponse.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = Client().post(
        f"/commands/respond/{secret}", json.dumps({"text": "x"}), content_type="application/json"
    )
    assert (answer.status_code, answer.content) == (404, b"expired_url")
    unknown = Client().post(
        "/commands/respond/nope", json.dumps({"text": "x"}), content_type="application/json"
    )
    assert unknown.status_code == 404


# --- registration ----------------------------------------------------------------------


def test_manage_py_command_create_prints_the_token_alone_on_a_line() -> None:
    out = io.StringIO()
    call_command(
        "command", "create", "deploy", "--url", "https://ci.example.com/slash",
        "--description", "Ship it", stdout=out,
    )  # fmt: skip
    created = SlashCommand.objects.get(name="deploy")
    assert out.getvalue().splitlines()[-1] == created.token
    assert (created.url, created.description) == ("https://ci.example.com/slash", "Ship it")
    assert len(created.token) >= 32
    with pytest.raises(Exception, match="built-in"):
        call_command("command", "create", "shrug", "--url", "https://x.example/", stdout=out)
