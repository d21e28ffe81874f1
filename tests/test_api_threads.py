"""Threads over the HTTP API: posting a reply (`thread`, `also_to_room`, `bad_thread`),
files and images as replies (a refused one stores nothing), a thread's replies through
the message list (`?thread=`, paged like the room), the followed threads
(`/api/threads/`), who may read what (404 / 403 as for the room), and the OpenAPI
schema saying so."""

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from chat import services
from chat.errors import ChatError
from chat.models import Attachment, Message, Room, Sanction, Thread
from chat.services.posting import SendRequest, message_post_one
from tests.test_api import bearer, error_of, post_json, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def secret(alice: User, bob: User) -> Room:
    room = services.room_create(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )
    services.membership_add(room=room, user=bob, actor=alice)
    return room


def api(user: User) -> Client:
    return bearer(token_for(user))


def send(client: Client, room: Room, body: str, **extra: Any) -> Any:
    return post_json(client, f"/api/rooms/{room.slug}/messages/", {"body": body, **extra})


@pytest.fixture
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def upload(client: Client, room: Room, kind: str, name: str, data: bytes, **fields: Any) -> Any:
    """POST to /files/ or /images/ (multipart): the form's fields are strings."""
    file = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    form = {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in fields.items()
    }
    return client.post(f"/api/rooms/{room.slug}/{kind}/", {"file": file, **form})


def test_a_reply_is_posted_in_its_thread_and_kept_out_of_the_rooms_list(
    alice: User, bob: User, room: Room
) -> None:
    a, b = api(alice), api(bob)
    root = send(a, room, "release on friday?").json()
    created = send(b, room, "yes", thread=root["id"])
    assert created.status_code == 201
    reply = created.json()
    assert (reply["thread"], reply["also_to_room"], reply["seq"]) == (root["id"], False, 2)
    shown = send(b, room, "for everyone", thread=root["id"], also_to_room=True).json()
    assert (shown["thread"], shown["also_to_room"]) == (root["id"], True)
    # also_to_room alone (no thread) is a plain message.
    plain = send(a, room, "plain", also_to_room=True).json()
    assert (plain["thread"], plain["also_to_room"]) == (None, False)
    listed = a.get(f"/api/rooms/{room.slug}/messages/").json()
    assert [m["body"] for m in listed["messages"]] == [
        "release on friday?",
        "for everyone",
        "plain",
    ]
    summary = listed["messages"][0]["thread_summary"]
    assert (summary["replies"], summary["participants"], summary["last_seq"]) == (
        2,
        ["bob"],
        shown["seq"],
    )
    assert Thread.objects.get(root_id=root["id"]).replies == 2


def test_bad_roots_are_400_bad_thread_and_save_nothing(
    alice: User, bob: User, room: Room, secret: Room
) -> None:
    a = api(alice)
    root = send(a, room, "root").json()
    reply = send(a, room, "reply", thread=root["id"]).json()
    elsewhere = send(a, secret, "in another room").json()
    gone = send(a, room, "deleted").json()
    services.message_delete(message_id=gone["id"], user=alice)
    count = Message.objects.count()
    for bad in (reply["id"], elsewhere["id"], gone["id"], 10**12):
        response = send(a, room, "nope", thread=bad)
        assert response.status_code == 400, bad
        assert error_of(response)["code"] == "bad_thread"
    for bad in (0, -1, "x", 2**63):
        response = send(a, room, "nope", thread=bad)
        assert response.status_code == 400
        assert error_of(response)["code"] == "invalid"
    assert error_of(send(a, room, "nope", thread=root["id"], also_to_room="maybe"))["code"] == (
        "invalid"
    )
    assert Message.objects.count() == count


def test_files_and_images_are_posted_in_a_thread_and_kept_out_of_the_rooms_list(
    alice: User, bob: User, room: Room, media_root: Path
) -> None:
    a, b = api(alice), api(bob)
    root = send(a, room, "the specs?").json()
    pdf = upload(b, room, "files", "spec.pdf", b"%PDF-1.4 spec", thread=root["id"])
    assert pdf.status_code == 201, pdf.content
    image = upload(b, room, "images", "shot.png", png(), thread=root["id"], body="the mock")
    assert image.status_code == 201, image.content
    # An image through /files/ takes the image path; also_to_room shows it in the room.
    shown = upload(a, room, "files", "wide.png", png(), thread=root["id"], also_to_room=True)
    assert shown.status_code == 201, shown.content
    replies = [pdf.json(), image.json(), shown.json()]
    assert [(m["thread"], m["also_to_room"]) for m in replies] == [
        (root["id"], False),
        (root["id"], False),
        (root["id"], True),
    ]
    assert [m["attachment"]["kind"] for m in replies] == ["file", "image", "image"]
    listed = a.get(f"/api/rooms/{room.slug}/messages/").json()["messages"]
    assert [m["id"] for m in listed] == [root["id"], shown.json()["id"]]
    summary = listed[0]["thread_summary"]
    assert (summary["replies"], summary["participants"], summary["last_seq"]) == (
        3,
        ["alice", "bob"],
        shown.json()["seq"],
    )
    thread = a.get(f"/api/rooms/{room.slug}/messages/", {"thread": root["id"]}).json()
    assert [m["id"] for m in thread["messages"]] == [m["id"] for m in replies]
    assert thread["messages"][1]["body"] == "the mock"
    assert Thread.objects.get(root_id=root["id"]).replies == 3
    assert Attachment.objects.count() == 3
    # A resend (same client_id) answers with the saved reply and stores nothing more.
    files = len(stored_files(media_root))
    again = upload(b, room, "files", "spec.pdf", b"%PDF", thread=root["id"], client_id="c1")
    same = upload(b, room, "files", "spec.pdf", b"%PDF", thread=root["id"], client_id="c1")
    assert same.json()["id"] == again.json()["id"]
    assert len(stored_files(media_root)) == files + 1


def test_an_upload_to_a_bad_thread_is_400_and_leaves_no_file(
    alice: User, room: Room, secret: Room, media_root: Path
) -> None:
    a = api(alice)
    root = send(a, room, "root").json()
    reply = send(a, room, "reply", thread=root["id"]).json()
    elsewhere = send(a, secret, "in another room").json()
    count = Message.objects.count()
    for bad in (reply["id"], elsewhere["id"], 10**12):
        for kind, name, data in (("files", "a.pdf", b"%PDF"), ("images", "a.png", png())):
            response = upload(a, room, kind, name, data, thread=bad)
            assert response.status_code == 400, (kind, bad)
            assert error_of(response)["code"] == "bad_thread"
    assert error_of(upload(a, room, "files", "a.pdf", b"%PDF", thread="x"))["code"] == "invalid"
    assert Message.objects.count() == count
    assert stored_files(media_root) == []

    # The root deleted between the upload's first check and the write path: the write
    # path refuses it, and what was already stored is removed again.
    def delete_then_post(request: SendRequest) -> Any:
        services.message_delete(message_id=root["id"], user=alice)
        return message_post_one(request)

    file = SimpleUploadedFile("late.png", png(), content_type="image/png")
    with pytest.raises(ChatError) as refused:
        services.message_post_file(
            room_id=room.pk,
            author=alice,
            upload=file,
            body="",
            client_id="late",
            thread=root["id"],
            post=delete_then_post,
        )
    assert refused.value.code == "bad_thread"
    assert stored_files(media_root) == []
    assert not Attachment.objects.exists()


def test_a_threads_replies_are_listed_and_paged_like_the_room(
    alice: User, bob: User, room: Room
) -> None:
    a, b = api(alice), api(bob)
    root = send(a, room, "root").json()
    replies = [send(b, room, f"reply {n}", thread=root["id"]).json() for n in range(5)]
    send(a, room, "a later top-level message")
    url = f"/api/rooms/{room.slug}/messages/"
    page = a.get(url, {"thread": root["id"], "limit": 2}).json()
    assert page["thread"] == root["id"]
    assert page["root"]["id"] == root["id"]
    assert page["root"]["thread_summary"]["replies"] == 5
    assert [m["body"] for m in page["messages"]] == ["reply 3", "reply 4"]
    assert page["has_more"] is True
    assert page["last_seq"] == replies[-1]["seq"]
    older = a.get(url, {"thread": root["id"], "limit": 5, "before": replies[3]["seq"]}).json()
    assert [m["body"] for m in older["messages"]] == ["reply 0", "reply 1", "reply 2"]
    assert older["has_more"] is False
    forward = a.get(url, {"thread": root["id"], "limit": 2, "after": replies[0]["seq"]}).json()
    assert [m["body"] for m in forward["messages"]] == ["reply 1", "reply 2"]
    assert forward["has_more"] is True
    around = a.get(url, {"thread": root["id"], "limit": 3, "around": replies[2]["seq"]}).json()
    assert [m["body"] for m in around["messages"]] == ["reply 1", "reply 2", "reply 3"]
    assert around["has_more"] is True
    assert all(m["thread"] == root["id"] for m in around["messages"])
    for bad in ({"thread": replies[0]["id"]}, {"thread": 10**12}):
        response = a.get(url, bad)
        assert response.status_code == 400
        assert error_of(response)["code"] == "bad_thread"
    mixed = a.get(url, {"thread": root["id"], "around": 2, "before": 3})
    assert error_of(mixed)["code"] == "invalid"


def test_rooms_one_may_not_read_are_404_or_403_for_threads_too(
    alice: User, bob: User, carol: User, room: Room, secret: Room
) -> None:
    a, c = api(alice), api(carol)
    root = send(a, secret, "private root").json()
    send(a, secret, "private reply", thread=root["id"])
    url = f"/api/rooms/{secret.slug}/messages/"
    for response in (c.get(url, {"thread": root["id"]}), send(c, secret, "hi", thread=root["id"])):
        assert response.status_code == 404
        assert error_of(response)["code"] == "room_not_found"
    # The root's id through a room one may read is no way in either.
    response = c.get(f"/api/rooms/{room.slug}/messages/", {"thread": root["id"]})
    assert error_of(response)["code"] == "bad_thread"
    Sanction.objects.create(user=bob, kind=Sanction.Kind.BAN, room=secret)
    b = api(bob)
    for response in (b.get(url, {"thread": root["id"]}), send(b, secret, "hi", thread=root["id"])):
        assert response.status_code == 403
        assert error_of(response)["code"] == "banned"
    assert Client().get(url, {"thread": root["id"]}).status_code == 401


def test_followed_threads_are_listed_with_their_counts_and_an_unread_filter(
    alice: User, bob: User, carol: User, room: Room, secret: Room
) -> None:
    for user in (alice, bob):
        services.room_join(user=user, slug=room.slug)  # members: @alice is a mention
    a, b = api(alice), api(bob)
    roots = [send(a, room, f"topic {n}").json() for n in range(3)]
    replies = [
        send(b, room, f"@alice about {root['body']}", thread=root["id"]).json() for root in roots
    ]
    hidden = send(a, secret, "secret topic").json()
    send(b, secret, "secret reply", thread=hidden["id"])
    services.thread_read(user=alice, slug=room.slug, root_id=roots[0]["id"], seq=replies[0]["seq"])
    everything = a.get("/api/threads/").json()
    assert [item["root"]["id"] for item in everything["items"]] == [
        hidden["id"],
        roots[2]["id"],
        roots[1]["id"],
        roots[0]["id"],
    ]
    assert everything["next"] is None
    first = everything["items"][1]
    assert (first["room"], first["following"], first["unread"], first["mentions"]) == (
        room.slug,
        True,
        1,
        1,
    )
    assert first["summary"]["replies"] == 1
    unread = a.get("/api/threads/", {"unread": 1}).json()
    assert roots[0]["id"] not in [item["root"]["id"] for item in unread["items"]]
    page = a.get("/api/threads/", {"limit": 2}).json()
    assert len(page["items"]) == 2
    rest = a.get("/api/threads/", {"limit": 2, "before": page["next"]}).json()
    assert [item["root"]["id"] for item in page["items"] + rest["items"]] == [
        item["root"]["id"] for item in everything["items"]
    ]
    assert rest["next"] is None
    # Removed from the private room: its thread is no longer listed.
    services.membership_remove(room=secret, user=alice, actor=alice)
    assert hidden["id"] not in [i["root"]["id"] for i in a.get("/api/threads/").json()["items"]]
    assert api(carol).get("/api/threads/").json() == {"items": [], "next": None}
    for bad in ({"before": "nope"}, {"limit": 0}, {"limit": 51}):
        response = a.get("/api/threads/", bad)
        assert response.status_code == 400
        assert error_of(response)["code"] in {"bad_cursor", "invalid"}
    assert Client().get("/api/threads/").status_code == 401


def test_the_schema_documents_threads() -> None:
    schema = Client().get("/api/schema/", headers={"accept": "application/json"}).json()
    assert "/api/threads/" in schema["paths"]
    params = schema["paths"]["/api/threads/"]["get"]["parameters"]
    assert {p["name"] for p in params} >= {"unread", "before", "limit"}
    listing = schema["paths"]["/api/rooms/{slug}/messages/"]["get"]["parameters"]
    assert "thread" in {p["name"] for p in listing}
    for request in ("MessageCreateRequest", "FileCreateRequest", "ImageCreateRequest"):
        create = schema["components"]["schemas"][request]["properties"]
        assert {"thread", "also_to_room"} <= set(create), request
    message = schema["components"]["schemas"]["Message"]["properties"]
    assert {"thread", "also_to_room", "thread_summary", "deleted"} <= set(message)
