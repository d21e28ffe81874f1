"""The all-rooms endpoint /ws/chat/ (docs/protocol.md, "One connection for all rooms")
through channels' WebsocketCommunicator on the real ASGI application."""

import asyncio
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db.backends.utils import CursorWrapper
from django.test import override_settings

from accounts.selectors import profile_forget
from chat import events, services
from chat.models import Room, Sanction
from chat.protocol.codes import CloseCode
from chat.selectors import ProfileOut

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Any]
ROOM_KEYS = {
    "slug", "name", "kind", "topic", "locked", "last_seq", "last_read_seq", "unread",
    "mentions", "other", "can_manage", "notify_level",
}  # fmt: skip


@pytest.fixture(autouse=True)
def no_default_rooms(transactional_db: None) -> None:
    """Rooms a new account joins by itself (the migrations' lobby) would be in every
    hello here; these tests choose each user's rooms."""
    Room.objects.filter(is_default=True).delete()


@database_sync_to_async
def join(user: User, *slugs: str) -> None:
    for slug in slugs:
        services.room_join(user=user, slug=slug)


@database_sync_to_async
def make_room(slug: str, *, private: bool = False, creator: User | None = None) -> Room:
    if creator is not None:
        return services.room_create(
            slug=slug, name=slug.title(), topic="", creator=creator, is_private=private
        )
    return Room.objects.create(slug=slug, name=slug.title(), is_private=private)


async def post(room: Room, user: User, body: str) -> dict[str, Any]:
    message: dict[str, Any] = await database_sync_to_async(services.message_post)(
        room_id=room.pk, author=user, body=body, client_id=f"{user.pk}-{body}"
    )
    return message


async def connect(open_socket: Open, user: User, query: str = "") -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, f"/ws/chat/{query}")
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello", hello
    return comm, hello


async def next_of(comm: Any, kind: str, timeout: float = 5) -> dict[str, Any]:
    """The next frame of this type; fails on any other frame but presence/typing."""
    frame: dict[str, Any] = await comm.receive_json_from(timeout=timeout)
    assert frame["type"] == kind, frame
    return frame


async def send(comm: Any, frame: dict[str, Any]) -> None:
    await comm.send_to(text_data=json.dumps(frame))


def rooms_by_slug(hello: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {room["slug"]: room for room in hello["rooms"]}


# --- hello ------------------------------------------------------------------------------


async def test_hello_lists_joined_rooms_with_read_state_sorted_by_kind_and_name(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    secret = await make_room("secret", private=True, creator=bob)
    await database_sync_to_async(services.membership_add)(room=secret, user=alice, actor=bob)
    dm = await database_sync_to_async(services.dm_open)(user=alice, other=bob)
    await make_room("unjoined")
    await join(alice, "general")
    await post(room, bob, "one")
    await post(room, bob, "hey @alice")
    await post(room, alice, "mine")
    _, hello = await connect(open_socket, alice)
    assert hello["user"]["username"] == "alice"
    assert hello["user"]["avatar"].startswith("/api/users/alice/avatar/?v=")
    assert [r["slug"] for r in hello["rooms"]] == ["general", "secret", dm.slug]
    assert all(set(r) == ROOM_KEYS for r in hello["rooms"])
    general = rooms_by_slug(hello)["general"]
    assert general == {
        "slug": "general",
        "name": "General",
        "kind": "public",
        "topic": "Anything goes",
        "locked": False,
        "last_seq": 3,
        "last_read_seq": 0,
        "unread": 2,  # her own message does not count
        "mentions": 1,
        "other": None,
        "can_manage": False,
        "notify_level": "",
    }
    assert rooms_by_slug(hello)[dm.slug]["other"] == {"username": "bob"}
    assert rooms_by_slug(hello)[dm.slug]["kind"] == "direct"
    assert rooms_by_slug(hello)["secret"]["kind"] == "private"
    assert rooms_by_slug(hello)["secret"]["can_manage"] is False  # bob owns it, not alice


async def test_live_message_names_its_room_on_both_endpoints(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await join(alice, "general")
    comm, _ = await connect(open_socket, alice)
    per_room = await open_socket(bob, "/ws/chat/general/")
    assert (await per_room.connect())[0]
    await next_of(per_room, "hello")
    await post(room, bob, "hi @alice!")
    frame = await next_of(comm, "message")
    assert frame["room"] == "general"
    assert frame["message"]["mentions"] == ["alice"]
    assert (await next_of(per_room, "message"))["room"] == "general"


# --- read state -------------------------------------------------------------------------


async def test_counts_after_a_message_and_after_edits_that_add_or_remove_a_mention(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await join(alice, "general")
    await join(bob, "general")
    comm, _ = await connect(open_socket, alice)
    message = await post(room, bob, "hello @alice")
    assert (await next_of(comm, "message"))["message"]["seq"] == 1
    _, hello = await connect(open_socket, alice)
    assert rooms_by_slug(hello)["general"]["unread"] == 1
    assert rooms_by_slug(hello)["general"]["mentions"] == 1
    await database_sync_to_async(services.message_edit)(
        message_id=message["id"], user=bob, body="hello everyone"
    )
    frames = [await comm.receive_json_from(timeout=5) for _ in range(2)]
    by_type = {f["type"]: f for f in frames}
    assert set(by_type) == {"message.updated", "room.read"}
    assert by_type["room.read"] == {
        "type": "room.read",
        "room": "general",
        "last_read_seq": 0,
        "unread": 1,
        "mentions": 0,
        "last_seq": 1,
    }
    await database_sync_to_async(services.message_edit)(
        message_id=message["id"], user=bob, body="hello again @ALICE."
    )
    frames = [await comm.receive_json_from(timeout=5) for _ in range(2)]
    read = next(f for f in frames if f["type"] == "room.read")
    assert (read["unread"], read["mentions"]) == (1, 1)


@pytest.mark.parametrize("by", ["author", "moderator"])
async def test_counts_drop_when_a_counted_message_is_deleted_or_hidden(
    open_socket: Open, alice: User, bob: User, room: Room, make_user: Callable[..., User], by: str
) -> None:
    await join(alice, "general")
    await join(bob, "general")
    actor = bob if by == "author" else await database_sync_to_async(make_user)("mod", is_staff=True)
    comm, _ = await connect(open_socket, alice)
    await post(room, bob, "first")
    doomed = await post(room, bob, "@alice second")
    for _ in range(2):
        await next_of(comm, "message")
    await database_sync_to_async(services.message_delete)(message_id=doomed["id"], user=actor)
    frames = [await comm.receive_json_from(timeout=5) for _ in range(2)]
    by_type = {f["type"]: f for f in frames}
    assert by_type["message.deleted"]["room"] == "general"
    assert (by_type["room.read"]["unread"], by_type["room.read"]["mentions"]) == (1, 0)


async def test_read_pointer_never_moves_back_and_reaches_the_users_other_connection(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await join(alice, "general")
    for n in range(4):
        await post(room, bob, f"m{n}")
    first, _ = await connect(open_socket, alice)
    second, _ = await connect(open_socket, alice)
    await send(first, {"type": "room.read", "room": "general", "seq": 3})
    expected = {
        "type": "room.read",
        "room": "general",
        "last_read_seq": 3,
        "unread": 1,
        "mentions": 0,
        "last_seq": 4,
    }
    assert await next_of(first, "room.read") == expected
    assert await next_of(second, "room.read") == expected
    await send(first, {"type": "room.read", "room": "general", "seq": 1})  # back: no move
    assert await next_of(first, "room.read") == expected
    assert await second.receive_nothing(timeout=0.3)
    await send(first, {"type": "room.read", "room": "general", "seq": 99})  # past the end
    assert (await next_of(first, "room.read"))["last_read_seq"] == 4


# --- joining, leaving, losing a room ------------------------------------------------------


async def test_join_and_leave_reach_the_users_other_connection_live(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    design = await make_room("design")
    first, hello = await connect(open_socket, alice)
    second, _ = await connect(open_socket, alice)
    assert hello["rooms"] == []
    await send(first, {"type": "room.join", "room": "design"})
    for comm in (first, second):
        joined = await next_of(comm, "room.joined")
        assert joined["room"]["slug"] == "design"
        assert joined["room"]["unread"] == 0
    await post(design, bob, "welcome")
    for comm in (first, second):
        frame = await next_of(comm, "message")
        assert (frame["room"], frame["message"]["seq"]) == ("design", 1)
    await send(first, {"type": "room.join", "room": "design"})  # already joined: only here
    assert (await next_of(first, "room.joined"))["room"]["slug"] == "design"
    assert await second.receive_nothing(timeout=0.3)
    await send(second, {"type": "room.leave", "room": "design"})
    for comm in (first, second):
        assert await next_of(comm, "room.left") == {
            "type": "room.left",
            "room": "design",
            "reason": "left",
        }
    await post(design, bob, "anyone?")
    for comm in (first, second):
        assert await comm.receive_nothing(timeout=0.3)
    await send(first, {"type": "message.send", "room": "design", "body": "x", "client_id": "c"})
    error = await next_of(first, "error")
    assert (error["code"], error["room"], error["client_id"]) == ("not_joined", "design", "c")


async def test_removed_from_a_private_room_the_socket_stays_and_the_room_goes(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    secret = await make_room("secret", private=True, creator=bob)
    await database_sync_to_async(services.membership_add)(room=secret, user=alice, actor=bob)
    await join(alice, "general")
    comm, hello = await connect(open_socket, alice)
    assert set(rooms_by_slug(hello)) == {"general", "secret"}
    await database_sync_to_async(services.membership_remove)(room=secret, user=alice, actor=bob)
    assert await next_of(comm, "room.left") == {
        "type": "room.left",
        "room": "secret",
        "reason": "removed",
    }
    await post(secret, bob, "alice cannot see this")
    assert await comm.receive_nothing(timeout=0.3)
    await send(comm, {"type": "message.send", "room": "general", "body": "hi", "client_id": "g"})
    frames = {(await comm.receive_json_from(timeout=5))["type"] for _ in range(2)}
    assert frames == {"ack", "message"}  # still open and working
    await send(comm, {"type": "history.fetch", "room": "secret", "before": 5})
    assert (await next_of(comm, "error"))["code"] == "forbidden"


async def test_a_room_ban_is_room_left_banned_and_a_site_ban_closes_4403(
    open_socket: Open, alice: User, bob: User, room: Room, make_user: Callable[..., User]
) -> None:
    staff = await database_sync_to_async(make_user)("staff", is_staff=True)
    await make_room("design")
    await join(alice, "general", "design")
    comm, _ = await connect(open_socket, alice)
    ban = database_sync_to_async(services.sanction_create)
    await ban(kind=Sanction.Kind.BAN, user=alice, room=room, reason="r", actor=staff)
    assert await next_of(comm, "room.left") == {
        "type": "room.left",
        "room": "general",
        "reason": "banned",
    }
    assert await comm.receive_nothing(timeout=0.3)  # the room-scoped kick is not for us
    _, hello = await connect(open_socket, alice)
    assert [r["slug"] for r in hello["rooms"]] == ["design"]
    await ban(kind=Sanction.Kind.BAN, user=alice, room=None, reason="r", actor=staff)
    assert await comm.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CloseCode.FORBIDDEN,
    }
    refused = await open_socket(alice, "/ws/chat/")
    await refused.connect()
    assert await refused.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": CloseCode.FORBIDDEN,
    }


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "message.send", "room": "design", "body": "x", "client_id": "a"}, "not_joined"),
        ({"type": "typing", "room": "design"}, "not_joined"),
        ({"type": "room.read", "room": "design", "seq": 1}, "not_joined"),
        ({"type": "room.leave", "room": "design"}, "not_joined"),
        ({"type": "room.join", "room": "nowhere"}, "room_not_found"),
        ({"type": "room.watch", "room": "nowhere"}, "room_not_found"),
        ({"type": "history.fetch", "room": "nowhere", "before": 3}, "room_not_found"),
        ({"type": "online.fetch", "room": "nowhere"}, "room_not_found"),
        ({"type": "room.join", "room": "vault"}, "forbidden"),
        ({"type": "room.watch", "room": "vault"}, "forbidden"),
        ({"type": "message.send", "body": "x", "client_id": "a"}, "bad_frame"),
        ({"type": "history.fetch", "before": 3}, "bad_frame"),
        ({"type": "room.read", "room": "design", "seq": -1}, "bad_frame"),
    ],
)
async def test_room_frames_are_answered_with_errors_naming_the_room(
    open_socket: Open, alice: User, bob: User, frame: dict[str, Any], code: str
) -> None:
    await make_room("design")
    await make_room("vault", private=True, creator=bob)
    comm, _ = await connect(open_socket, alice)
    await send(comm, frame)
    error = await next_of(comm, "error")
    assert error["code"] == code
    if "room" in frame:
        assert error["room"] == frame["room"]
    assert comm.output_queue.empty()  # the socket stays open
    await send(comm, {"type": "room.join", "room": "design"})
    assert (await next_of(comm, "room.joined"))["room"]["slug"] == "design"


async def test_direct_conversation_cannot_be_left(
    open_socket: Open, alice: User, bob: User
) -> None:
    dm = await database_sync_to_async(services.dm_open)(user=alice, other=bob)
    comm, _ = await connect(open_socket, alice)
    await send(comm, {"type": "room.leave", "room": dm.slug})
    error = await next_of(comm, "error")
    assert (error["code"], error["room"]) == ("cannot_leave", dm.slug)


async def test_per_room_endpoint_does_not_know_the_room_frames(
    open_socket: Open, alice: User, room: Room
) -> None:
    comm = await open_socket(alice, "/ws/chat/general/")
    assert (await comm.connect())[0]
    await next_of(comm, "hello")
    await send(comm, {"type": "room.join", "room": "general"})
    assert (await next_of(comm, "error"))["code"] == "unknown_type"


@pytest.mark.parametrize(
    "after", ["general", "general:x", "general:-1", ":3", ",".join(["a:1"] * 201)]
)
async def test_bad_after_closes_with_4400(open_socket: Open, alice: User, after: str) -> None:
    comm = await open_socket(alice, f"/ws/chat/?after={after}")
    assert (await comm.connect())[0]
    assert await comm.receive_output() == {"type": "websocket.close", "code": CloseCode.BAD_REQUEST}


# --- resume and watch -------------------------------------------------------------------


async def test_resume_across_rooms_has_no_gap_or_duplicate_while_messages_flow(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    other = await make_room("other")
    quiet = await make_room("quiet")
    await join(alice, "general", "other", "quiet")
    for n in range(5):
        await post(room, bob, f"g{n}")
        await post(other, bob, f"o{n}")
    await post(quiet, bob, "q")
    sending = asyncio.ensure_future(
        asyncio.gather(*(post(r, bob, f"live{n}") for n in range(10) for r in (room, other)))
    )
    comm, hello = await connect(open_socket, alice, "?after=general:2,other:4,gone:3")
    await sending
    rooms = rooms_by_slug(hello)
    assert rooms["general"]["resumed"] == {"after": 2, "complete": True}
    assert rooms["other"]["resumed"] == {"after": 4, "complete": True}
    assert "resumed" not in rooms["quiet"]
    seqs: dict[str, list[int]] = {"general": [], "other": []}
    while len(seqs["general"]) < 13 or len(seqs["other"]) < 11:
        frame = await next_of(comm, "message")
        seqs[frame["room"]].append(frame["message"]["seq"])
    assert seqs == {"general": list(range(3, 16)), "other": list(range(5, 16))}
    assert await comm.receive_nothing(timeout=0.3)


async def test_watch_a_public_room_then_stop(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await post(room, bob, "before")
    comm, hello = await connect(open_socket, alice)
    assert hello["rooms"] == []
    await send(comm, {"type": "room.watch", "room": "general"})
    watching = await next_of(comm, "room.watching")
    assert watching["room"]["slug"] == "general"
    assert (watching["room"]["last_seq"], watching["room"]["unread"]) == (1, 0)
    await post(room, bob, "during")
    frame = await next_of(comm, "message")
    assert (frame["room"], frame["message"]["seq"]) == ("general", 2)
    await send(comm, {"type": "typing", "room": "general"})  # watching is not joining
    assert (await next_of(comm, "error"))["code"] == "not_joined"
    await send(comm, {"type": "room.watch", "room": None})
    # Frames are handled one at a time, in order: the answer to the next one means the
    # watch has ended (instead of sleeping and hoping it has).
    await send(comm, {"type": "typing", "room": "general"})
    assert (await next_of(comm, "error"))["code"] == "not_joined"
    await post(room, bob, "after")
    assert await comm.receive_nothing(timeout=0.3)


async def test_online_fetch_and_presence_in_every_joined_room(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await make_room("design")
    await join(alice, "general", "design")
    watcher = await open_socket(bob, "/ws/chat/design/")
    assert (await watcher.connect())[0]
    await next_of(watcher, "hello")
    comm, _ = await connect(open_socket, alice)
    presence = await watcher.receive_json_from(timeout=5, skip=("typing",))
    while presence["type"] != "presence" or "alice" not in presence["joined"]:
        presence = await watcher.receive_json_from(timeout=5, skip=("typing",))
    assert presence["room"] == "design"
    await send(comm, {"type": "online.fetch", "room": "general"})
    online = await next_of(comm, "online")
    assert online == {"type": "online", "room": "general", "online": ["alice"], "online_count": 1}


# --- cost of a connect ------------------------------------------------------------------


async def test_connecting_costs_the_same_queries_for_2_rooms_as_for_50(
    open_socket: Open, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the queries of the connection under test count: those made in its context
    # (its consumer's tasks and their database threads inherit it), not those of what
    # earlier tests left running or of the process-wide parts the warm-up starts.
    counting: ContextVar[bool] = ContextVar("counting", default=False)
    queries: list[str] = []
    real_execute = CursorWrapper.execute

    def counted(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        if counting.get():
            queries.append(sql)
        return real_execute(self, sql, params)

    async def cost(name: str, rooms: int) -> int:
        user = await database_sync_to_async(make_user)(name)
        slugs = [f"{name}-{n}" for n in range(rooms)]
        for slug in slugs:
            await make_room(slug)
        await join(user, *slugs)
        after = ",".join(f"{slug}:0" for slug in slugs)
        # Both connects start with a cold profile cache: setting up 50 rooms on a busy
        # machine can outlast its 10 s.
        profile_forget()
        queries.clear()
        token = counting.set(True)  # before the communicator: it starts the consumer
        try:
            comm = await open_socket(user, f"/ws/chat/?after={after}")
            connected, _ = await comm.connect()
            assert connected
            hello = await comm.receive_json_from(timeout=5)
        finally:
            counting.reset(token)
        assert hello["type"] == "hello", hello
        assert len(hello["rooms"]) == rooms
        await comm.disconnect()
        return len(queries)

    monkeypatch.setattr(CursorWrapper, "execute", counted)
    await cost("warm", 1)  # the hub and the process's other parts start here, uncounted
    few, many = await cost("few", 2), await cost("many", 50)
    assert few == many
    assert few >= 5, few  # the filter sees the connect's own session, user and rooms


@override_settings(CHAT_RESUME_LIMIT=3)
async def test_resume_past_the_cap_sends_the_newest_and_says_incomplete(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    await join(alice, "general")
    for n in range(10):
        await post(room, bob, f"m{n}")
    comm, hello = await connect(open_socket, alice, "?after=general:2")
    assert rooms_by_slug(hello)["general"]["resumed"] == {"after": 2, "complete": False}
    assert [(await next_of(comm, "message"))["message"]["seq"] for _ in range(3)] == [8, 9, 10]
    await post(room, bob, "live")
    assert (await next_of(comm, "message"))["message"]["seq"] == 11
    await send(comm, {"type": "history.fetch", "room": "general", "before": 8, "limit": 100})
    page = await next_of(comm, "history")
    assert page["room"] == "general"
    assert [m["seq"] for m in page["messages"]] == list(range(1, 8))


async def test_joining_a_watched_room_keeps_one_stream_and_counts_it(
    open_socket: Open, alice: User, bob: User, room: Room
) -> None:
    comm, _ = await connect(open_socket, alice)
    await send(comm, {"type": "room.watch", "room": "general"})
    await next_of(comm, "room.watching")
    await send(comm, {"type": "room.join", "room": "general"})
    assert (await next_of(comm, "room.joined"))["room"]["slug"] == "general"
    await post(room, bob, "once")
    assert (await next_of(comm, "message"))["message"]["seq"] == 1
    assert await comm.receive_nothing(timeout=0.3)
    await send(comm, {"type": "typing", "room": "general"})  # joined now: no error
    assert await comm.receive_nothing(timeout=0.3)


# --- account events from other parts of the app -----------------------------------------


@pytest.mark.parametrize("path", ["/ws/chat/", "/ws/chat/general/"])
async def test_profile_change_reaches_open_sockets_as_user_updated(
    open_socket: Open, alice: User, bob: User, room: Room, path: str
) -> None:
    comm = await open_socket(alice, path)
    assert (await comm.connect())[0]
    await next_of(comm, "hello")
    profile: ProfileOut = {
        "username": "bob",
        "display_name": "Bob B.",
        "avatar": "/api/users/bob/avatar/?v=2",
        "author_bot": False,
    }
    await events.publish_now(events.profile(profile))
    assert await next_of(comm, "user.updated") == {"type": "user.updated", "user": profile}


@pytest.mark.parametrize("path", ["/ws/chat/", "/ws/chat/general/"])
async def test_ended_session_closes_its_sockets_only(
    open_socket: Open, alice: User, room: Room, path: str
) -> None:
    ended = await open_socket(alice, path)
    other = await open_socket(alice, path)  # another login session of the same user
    for comm in (ended, other):
        assert (await comm.connect())[0]
        await next_of(comm, "hello")
    key = ended.scope["headers"][1][1].decode().split("=", 1)[1]
    await events.publish_now(events.sessions_end(session_keys=[key], code=4401))
    closed = await ended.receive_output(timeout=5)
    # The other socket's own arrival may still be announced first (presence is batched).
    while closed["type"] == "websocket.send" and json.loads(closed["text"])["type"] == "presence":
        closed = await ended.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    assert await other.receive_nothing(timeout=0.3)
