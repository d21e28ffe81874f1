"""Access control and moderation through real WebSocket clients: private rooms, DMs,
bans, mutes, locks, deactivation, edits and deletions, and the audit log."""

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.utils import timezone

from chat import services
from chat.models import AuditLog, Membership, Message, MessageEdit, Room, Sanction
from chat.protocol.codes import CloseCode
from tests.conftest import session_cookie
from tests.published import intercept, of_type
from tests.servers import daphnes, recv_json, ws_connect

Open = Callable[..., Any]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private(alice: User) -> Room:
    return services.room_create(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("mod", is_staff=True)


async def connect(open_socket: Open, user: User, path: str) -> tuple[Any, dict[str, Any]]:
    comm = await open_socket(user, path)
    assert (await comm.connect())[0]
    out = await comm.receive_output(timeout=3)
    if out["type"] == "websocket.close":
        return comm, out
    return comm, json.loads(out["text"])


async def closed_with(comm: Any, code: int, timeout: float = 3) -> None:
    while (out := await comm.receive_output(timeout=timeout))["type"] != "websocket.close":
        pass
    assert out == {"type": "websocket.close", "code": code}


async def send(comm: Any, body: str, client_id: str) -> dict[str, Any]:
    """Send; return the ack or the error answering it."""
    await comm.send_json_to({"type": "message.send", "body": body, "client_id": client_id})
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout=3)
        if frame["type"] in ("ack", "error"):
            return frame


def test_private_room_is_invisible_to_non_members(
    private: Room, alice: User, carol: User, staff: User
) -> None:
    outsider = Client()
    outsider.force_login(carol)
    assert outsider.get("/chat/secret/").status_code == 404
    assert outsider.get("/chat/secret/members/").status_code == 404
    assert b"Secret" not in outsider.get("/").content
    member = Client()
    member.force_login(alice)
    assert member.get("/chat/secret/").status_code == 200
    assert b"Secret" in member.get("/").content
    moderator = Client()
    moderator.force_login(staff)
    assert moderator.get("/chat/secret/").status_code == 200


@pytest.mark.parametrize("path", ["/ws/chat/secret/", "/ws/chat/secret/?after=0"])
async def test_non_member_websocket_is_closed_with_4403(
    open_socket: Open, private: Room, carol: User, path: str
) -> None:
    _, out = await connect(open_socket, carol, path)
    assert out == {"type": "websocket.close", "code": CloseCode.FORBIDDEN}


async def test_removed_member_loses_socket_history_and_send(
    open_socket: Open, private: Room, alice: User, bob: User
) -> None:
    await database_sync_to_async(services.membership_add)(room=private, user=bob, actor=alice)
    comm, hello = await connect(open_socket, bob, "/ws/chat/secret/")
    assert hello["type"] == "hello"
    await database_sync_to_async(services.membership_remove)(room=private, user=bob, actor=alice)
    await closed_with(comm, CloseCode.FORBIDDEN)
    _, out = await connect(open_socket, bob, "/ws/chat/secret/?after=0")
    assert out == {"type": "websocket.close", "code": CloseCode.FORBIDDEN}


async def test_every_action_is_authorized_when_it_happens(
    open_socket: Open, private: Room, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even if the kick never arrived (no channel layer delivery), the next action fails.
    intercept(monkeypatch, lose=of_type("chat.kick"))
    await database_sync_to_async(services.membership_add)(room=private, user=bob, actor=alice)
    comm, _ = await connect(open_socket, bob, "/ws/chat/secret/")
    await database_sync_to_async(services.membership_remove)(room=private, user=bob, actor=alice)
    await comm.send_json_to({"type": "history.fetch", "before": 10})
    error = await comm.receive_json_from()
    assert error["code"] == "forbidden"
    await closed_with(comm, CloseCode.FORBIDDEN)
    comm2, _ = await connect(open_socket, alice, "/ws/chat/secret/")
    assert (await send(comm2, "only members", "m1"))["type"] == "ack"


def test_direct_messages_room_is_shared_by_two_only(alice: User, bob: User, carol: User) -> None:
    client = Client()
    client.force_login(alice)
    response = client.get("/dm/bob/")
    assert response.status_code == 302
    room = Room.objects.get(is_direct=True)
    assert response["Location"] == f"/chat/{room.slug}/"
    assert set(room.members.values_list("username", flat=True)) == {"alice", "bob"}
    other = Client()
    other.force_login(bob)
    assert other.get("/dm/alice/")["Location"] == f"/chat/{room.slug}/"  # same room
    outsider = Client()
    outsider.force_login(carol)
    assert outsider.get(f"/chat/{room.slug}/").status_code == 404
    assert client.get("/dm/nobody/").status_code == 404
    assert client.get("/dm/alice/").status_code == 404  # not with oneself


async def test_ban_closes_open_sockets_and_refuses_reconnects(
    open_socket: Open, room: Room, bob: User, staff: User
) -> None:
    comm, _ = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    await database_sync_to_async(services.sanction_create)(
        kind="ban", user=bob, room=room, reason="spam", actor=staff
    )
    await closed_with(comm, CloseCode.FORBIDDEN)
    _, out = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    assert out == {"type": "websocket.close", "code": CloseCode.FORBIDDEN}
    assert await database_sync_to_async(
        AuditLog.objects.filter(action="user.ban", actor=staff, reason="spam").exists
    )()


async def test_expired_or_lifted_ban_no_longer_applies(
    open_socket: Open, room: Room, bob: User, staff: User
) -> None:
    await database_sync_to_async(Sanction.objects.create)(
        kind="ban", user=bob, room=room, reason="old", expires_at=timezone.now() - timedelta(1)
    )
    sanction = await database_sync_to_async(services.sanction_create)(
        kind="ban", user=bob, room=None, reason="site", actor=staff
    )
    await database_sync_to_async(services.sanction_lift)(sanction=sanction, actor=staff)
    _, hello = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    assert hello["type"] == "hello"


async def test_muted_user_reads_but_cannot_write(
    open_socket: Open, room: Room, alice: User, bob: User, staff: User
) -> None:
    comm, _ = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    await database_sync_to_async(services.sanction_create)(
        kind="mute", user=bob, room=None, reason="cool off", actor=staff
    )
    error = await send(comm, "let me talk", "b1")
    assert (error["code"], error["client_id"]) == ("muted", "b1")
    talker, _ = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    assert (await send(talker, "you can read this", "a1"))["type"] == "ack"
    got = await comm.receive_json_from(timeout=3)
    assert got["message"]["body"] == "you can read this"
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_locked_room_is_read_only_except_for_staff(
    open_socket: Open, room: Room, bob: User, staff: User
) -> None:
    await database_sync_to_async(services.room_lock)(room=room, locked=True, actor=staff)
    comm, _ = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    assert (await send(comm, "hello?", "b1"))["code"] == "room_locked"
    moderator, _ = await connect(open_socket, staff, f"/ws/chat/{room.slug}/")
    assert (await send(moderator, "announcement", "s1"))["type"] == "ack"


async def test_deactivated_user_is_disconnected_everywhere(
    open_socket: Open, room: Room, private: Room, alice: User, staff: User
) -> None:
    one, _ = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    two, _ = await connect(open_socket, alice, "/ws/chat/secret/")
    await database_sync_to_async(services.user_deactivate)(user=alice, actor=staff)
    await closed_with(one, CloseCode.FORBIDDEN)
    await closed_with(two, CloseCode.FORBIDDEN)


async def test_a_user_saved_inactive_anywhere_loses_every_socket(
    open_socket: Open, room: Room, alice: User
) -> None:
    # Not through a service: a shell or a script saving the user is enough.
    one, _ = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    everything, hello = await connect(open_socket, alice, "/ws/chat/")
    assert hello["type"] == "hello"

    def deactivate() -> None:
        alice.is_active = False
        alice.save()

    await database_sync_to_async(deactivate)()
    await closed_with(one, CloseCode.FORBIDDEN)
    await closed_with(everything, CloseCode.FORBIDDEN)


async def test_authors_edit_and_delete_their_messages_live(
    open_socket: Open, room: Room, alice: User, bob: User
) -> None:
    author, _ = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    reader, _ = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    ack = await send(author, "frist", "a1")
    message_id = ack["message"]["id"]
    await reader.receive_json_from(timeout=3)  # the message itself
    await author.send_json_to({"type": "message.edit", "id": message_id, "body": "first"})
    updated = await reader.receive_json_from(timeout=3)
    assert updated["type"] == "message.updated"
    assert (updated["message"]["id"], updated["message"]["body"]) == (message_id, "first")
    edits = await database_sync_to_async(list)(MessageEdit.objects.values_list("body", flat=True))
    assert edits == ["frist"]
    # Someone else's message cannot be edited or deleted by a member.
    await reader.send_json_to({"type": "message.delete", "id": message_id})
    assert (await reader.receive_json_from(timeout=3))["code"] == "not_found"
    await author.send_json_to({"type": "message.delete", "id": message_id})
    deleted = await reader.receive_json_from(timeout=3)
    assert deleted == {"type": "message.deleted", "id": message_id, "seq": 1, "room": room.slug}
    _, hello = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    assert hello["history"] == []


async def test_moderator_hides_a_message_from_every_client(
    open_socket: Open, room: Room, alice: User, bob: User, staff: User
) -> None:
    author, _ = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    reader, _ = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    message_id = (await send(author, "something rude", "a1"))["message"]["id"]
    await reader.receive_json_from(timeout=3)
    await database_sync_to_async(services.message_delete)(
        message_id=message_id, user=staff, reason="rude"
    )
    for comm in (author, reader):
        frame = await comm.receive_json_from(timeout=3)
        while frame["type"] != "message.deleted":
            frame = await comm.receive_json_from(timeout=3)
        assert frame["id"] == message_id
    assert await database_sync_to_async(
        AuditLog.objects.filter(action="message.hide", reason="rude").exists
    )()


def test_audit_log_cannot_be_edited_in_the_admin(staff: User) -> None:
    staff.is_superuser = True
    staff.save()
    entry = AuditLog.objects.create(actor=staff, action="room.lock", target="x")
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/chat/auditlog/").status_code == 200
    assert client.get("/admin/chat/auditlog/add/").status_code == 403
    assert client.post(f"/admin/chat/auditlog/{entry.pk}/change/", {}).status_code == 403
    assert (
        client.post(f"/admin/chat/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert AuditLog.objects.filter(pk=entry.pk).exists()


def test_admin_ban_through_the_sanction_form_is_audited(staff: User, bob: User, room: Room) -> None:
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    response = client.post(
        "/admin/chat/sanction/add/",
        {
            "kind": "ban",
            "user": bob.pk,
            "room": room.pk,
            "reason": "flooding",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 302, response.content[:500]
    assert Sanction.objects.get().created_by == staff
    assert AuditLog.objects.filter(action="user.ban", reason="flooding").exists()


def test_owner_manages_members_of_a_private_room(
    private: Room, alice: User, bob: User, carol: User
) -> None:
    owner = Client()
    owner.force_login(alice)
    assert owner.post("/chat/secret/members/", {"username": "bob"}).status_code == 302
    assert Membership.objects.filter(room=private, user=bob).exists()
    stranger = Client()
    stranger.force_login(bob)  # a member, not the owner
    page = stranger.post("/chat/secret/members/", {"username": "carol"})
    assert page.status_code == 200
    assert not Membership.objects.filter(room=private, user=carol).exists()
    owner.post("/chat/secret/members/", {"username": "bob", "action": "remove"})
    assert not Membership.objects.filter(room=private, user=bob).exists()


@pytest.mark.slow
def test_ban_closes_sockets_on_a_second_process_within_a_second(
    server_env: dict[str, str], log_dir: Path, alice: User, bob: User, staff: User
) -> None:
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})
    lobby = Room.objects.get(slug="lobby")
    cookie = session_cookie(bob)
    # This test process bans as the admin would, through the same Redis as the servers.
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": server_env["REDIS_URL"]}],
                "prefix": server_env["CHAT_LAYER_PREFIX"],
            },
        }
    }
    with daphnes(server_env, log_dir, 2) as (one, two), override_settings(CHANNEL_LAYERS=layers):
        channel_layers.backends.clear()

        async def scenario() -> float:
            sockets = [await ws_connect(s, "/ws/chat/lobby/", cookie) for s in (one, two)]
            for ws in sockets:
                assert (await recv_json(ws))["type"] == "hello"
            started = time.monotonic()
            await asyncio.to_thread(
                services.sanction_create,
                kind="ban",
                user=bob,
                room=None,
                reason="x",
                actor=staff,
            )
            for ws in sockets:
                await asyncio.wait_for(ws.wait_closed(), 3)
                assert ws.close_code == CloseCode.FORBIDDEN
            return time.monotonic() - started

        assert asyncio.run(scenario()) < 1.0
    channel_layers.backends.clear()
    del lobby


async def test_muted_user_is_not_shown_typing(
    open_socket: Open, room: Room, alice: User, bob: User, staff: User
) -> None:
    watcher, _ = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    muted, _ = await connect(open_socket, bob, f"/ws/chat/{room.slug}/")
    await database_sync_to_async(services.sanction_create)(
        kind="mute", user=bob, room=room, reason="x", actor=staff
    )
    await muted.send_json_to({"type": "typing"})
    assert await watcher.receive_nothing(timeout=0.3, skip=("presence",))
    assert await muted.receive_nothing(timeout=0.1, skip=("presence",))


def test_banned_user_is_told_so_on_the_room_page(room: Room, bob: User, staff: User) -> None:
    services.sanction_create(kind="ban", user=bob, room=room, reason="x", actor=staff)
    client = Client()
    client.force_login(bob)
    assert client.get(f"/chat/{room.slug}/").status_code == 403


async def test_edited_messages_say_so_in_history(
    open_socket: Open, room: Room, alice: User
) -> None:
    comm, _ = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    message_id = (await send(comm, "helo", "a1"))["message"]["id"]
    await database_sync_to_async(services.message_edit)(
        message_id=message_id, user=alice, body="hello"
    )
    _, hello = await connect(open_socket, alice, f"/ws/chat/{room.slug}/")
    assert hello["history"][0]["body"] == "hello"
    assert hello["history"][0]["edited_at"] is not None


def test_access_for_many_answers_each_pair_as_access_for_does(
    alice: User, bob: User, carol: User, room: Room, private: Room, make_user: Callable[..., User]
) -> None:
    from chat import selectors

    locked = Room.objects.create(slug="locked", name="Locked", is_locked=True)
    gone = make_user("gone", is_active=False)
    Sanction.objects.create(kind=Sanction.Kind.BAN, user=bob, room=room, reason="spam")
    Sanction.objects.create(kind=Sanction.Kind.MUTE, user=carol, room=None, reason="calm")
    pairs = [
        (room.pk, alice.pk),  # may write
        (room.pk, bob.pk),  # banned here
        (room.pk, carol.pk),  # muted site-wide
        (private.pk, alice.pk),  # the owner, a member
        (private.pk, bob.pk),  # not a member
        (locked.pk, alice.pk),  # locked
        (room.pk, gone.pk),  # inactive
        (999_999, alice.pk),  # no such room
        (room.pk, alice.pk),  # asked twice: answered once
    ]
    many = selectors.access_for_many(pairs)
    assert set(many) == set(pairs)
    for room_id, user_id in pairs:
        assert many[(room_id, user_id)] == selectors.access_for(room_id=room_id, user_id=user_id)
    assert [many[p]["code"] for p in pairs[:8]] == [
        "", "banned", "muted", "", "forbidden", "room_locked", "forbidden", "forbidden"
    ]  # fmt: skip
    assert selectors.access_for_many([]) == {}
