"""chat_export -> chat_import into an empty instance: every room's history read through
the API is the source's (seqs, authors, bodies, times, edits, reactions, threads,
quotes, files; ids may differ), read state and credentials come back, and a damaged
archive, a used instance or an unknown room are refused. Runs on SQLite and, with
DATABASE_URL, on PostgreSQL."""

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from chat import selectors, services
from chat.models import Attachment, Membership, Room
from chat.services.posting import SendRequest, message_post, message_post_one

pytestmark = pytest.mark.django_db(transaction=True)

MAX_PAGES = 50  # bound on paging through one room (a page holds 100)


def history(username: str, slug: str, thread: int | None = None) -> list[dict[str, Any]]:
    """The room's (or a thread's) whole history as `username` reads it through the API."""
    client = Client()
    client.force_login(User.objects.get(username=username))
    found: list[dict[str, Any]] = []
    after = 0
    for _ in range(MAX_PAGES):
        query: dict[str, Any] = {"after": after, "limit": 100}
        if thread is not None:
            query["thread"] = thread
        response = client.get(f"/api/rooms/{slug}/messages/", query)
        assert response.status_code == 200, response.content
        page = response.json()["messages"]
        if not page:
            return found
        found += page
        after = page[-1]["seq"]
    raise AssertionError("history longer than the test's bound")


def comparable(messages: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The messages with ids replaced by seqs (ids differ between instances; nothing
    else may) and the URLs that carry ids left out."""
    seq_of = {m["id"]: m["seq"] for m in messages}
    out = []
    for m in messages:
        m = dict(m)
        del m["id"], m["author_avatar"]
        m["room"] = key
        if m["thread"] is not None:
            m["thread"] = seq_of.get(m["thread"], "elsewhere")
        if m["reply_to"] is not None:
            m["reply_to"] = {k: v for k, v in m["reply_to"].items() if k != "id"}
        if m["attachment"] is not None:
            m["attachment"] = {
                k: v for k, v in m["attachment"].items() if "url" not in k and k != "id"
            }
        m.pop("thread_id", None)
        out.append(m)
    return out


def snapshot() -> dict[str, Any]:
    """Everything a member sees of every room: its timeline, each thread, read state."""
    seen: dict[str, Any] = {}
    for room in Room.objects.order_by("slug"):
        reader = room.memberships.order_by("user__username").first()
        if reader is None:
            continue
        name = reader.user.username
        # A direct conversation's slug holds its members' ids, which differ after import.
        members = sorted(room.memberships.values_list("user__username", flat=True))
        key = "dm:" + ",".join(members) if room.is_direct else room.slug
        timeline = history(name, room.slug)
        roots = [m for m in timeline if m["thread_summary"]]
        seen[key] = {
            "last_seq": room.last_seq,
            "timeline": comparable(timeline, key),
            "threads": {
                r["seq"]: comparable(history(name, room.slug, r["id"]), key) for r in roots
            },
            "read": sorted(
                (m.user.username, m.last_read_seq, m.notify_level)
                for m in room.memberships.select_related("user")
            ),
            "unread": sorted(
                (User.objects.get(pk=user_id).username, state["unread"], state["mentions"])
                for user_id, state in selectors.read_states(room_id=room.pk).items()
            ),
        }
    return seen


@pytest.fixture
def media(settings: LazySettings, tmp_path: Path) -> Callable[[str], Path]:
    def use(name: str) -> Path:
        settings.MEDIA_ROOT = str(tmp_path / name)
        return tmp_path / name

    use("source-media")
    return use


@pytest.fixture
def source(make_user: Callable[..., User], media: Callable[[str], Path]) -> None:
    """A small chat with a bit of everything history can hold."""
    ann = make_user("ann", password="ann-secret-9", email="ann@example.com")
    ben, cat = make_user("ben"), make_user("cat")
    general = services.room_create(slug="general", name="General", topic="t", creator=ann)
    for user in (ben, cat):
        services.room_join(user=user, slug="general")
    secret = services.room_create(
        slug="secret", name="Secret", topic="", creator=ann, is_private=True
    )
    services.membership_add(room=secret, user=ben, actor=ann)
    dm = services.dm_open(user=ann, other=ben)

    root = message_post(room_id=general.pk, author=ann, body="Plan for Mon? @ben", client_id="1")
    for i, (who, text) in enumerate([(ben, "yes"), (cat, "+1 @ann"), (ben, "日本語もOK")]):
        message_post_one(
            SendRequest(
                room_id=general.pk,
                author=who,
                body=text,
                client_id=f"t{i}",
                thread=root["id"],
                also_to_room=i == 1,
            )
        )
    quoted = message_post(room_id=general.pk, author=cat, body="**bold** claim", client_id="2")
    message_post(
        room_id=general.pk, author=ben, body="source?", client_id="3", reply_to=quoted["id"]
    )
    services.message_edit(message_id=quoted["id"], user=cat, body="**bold** claim, edited")
    services.reaction_set(message_id=root["id"], user=ben, emoji_text="👍", added=True)
    services.reaction_set(message_id=root["id"], user=cat, emoji_text="👍", added=True)
    services.reaction_set(message_id=quoted["id"], user=ann, emoji_text="🎉", added=True)
    gone = message_post(room_id=general.pk, author=ben, body="oops", client_id="4")
    services.message_delete(message_id=gone["id"], user=ben)
    services.message_post_file(
        room_id=general.pk,
        author=ann,
        upload=SimpleUploadedFile("notes.txt", b"minutes\n" * 100, "text/plain"),
        body="the notes",
        client_id="5",
    )
    services.message_post_system(room_id=general.pk, body="Welcome, cat")
    # A root deleted after its reply stays in the timeline, blanked, holding its thread.
    lost = message_post(room_id=general.pk, author=cat, body="regret", client_id="9")
    message_post_one(
        SendRequest(room_id=general.pk, author=ann, body="why?", client_id="t9", thread=lost["id"])
    )
    services.message_delete(message_id=lost["id"], user=cat)
    message_post(room_id=secret.pk, author=ben, body="just us", client_id="6")
    message_post(room_id=dm.pk, author=ann, body="psst", client_id="7")
    services.room_read(user=ben, slug="general", seq=3)  # ben is behind: unread stays


def test_export_then_import_into_an_empty_instance_gives_the_same_history(
    source: None, media: Callable[[str], Path], tmp_path: Path
) -> None:
    before = snapshot()
    assert len(before["general"]["threads"]) == 2  # the fixture's, one with a deleted root
    assert any(m["deleted"] for m in before["general"]["timeline"])
    archive = tmp_path / "chat.zip"
    call_command("chat_export", str(archive), "--with-credentials")
    manifest = json.loads(zipfile.ZipFile(archive).read("manifest.json"))
    assert manifest["version"] == 1
    assert manifest["counts"]["messages"] == 13
    assert manifest["counts"]["users"] == 3
    assert manifest["counts"]["files"] == 1

    call_command("flush", interactive=False)  # a new instance: nothing left of the source
    User.objects.create(username="before").delete()  # ids here differ from the source's
    new_media = media("target-media")
    call_command("chat_import", str(archive))

    assert snapshot() == before
    assert User.objects.get(username="ann").check_password("ann-secret-9")
    stored = Attachment.objects.get()
    assert (new_media / str(stored.file.name)).read_bytes() == b"minutes\n" * 100
    # Seqs go on from the source's last one, for everyone on the live path.
    general = Room.objects.get(slug="general")
    sent = message_post(
        room_id=general.pk, author=User.objects.get(username="ben"), body="hi", client_id="8"
    )
    assert sent["seq"] == before["general"]["last_seq"] + 1

    ann, ben = User.objects.get(username="ann"), User.objects.get(username="ben")
    assert services.dm_open(user=ben, other=ann).messages.count() == 1  # the same one
    with pytest.raises(CommandError, match="not empty"):
        call_command("chat_import", str(archive))


def test_some_rooms_without_credentials_and_refusals(source: None, tmp_path: Path) -> None:
    archive = tmp_path / "secret.zip"
    with pytest.raises(CommandError, match="no such room: nope"):
        call_command("chat_export", str(archive), "--rooms", "secret,nope")
    call_command("chat_export", str(archive), "--rooms", "secret", "--since", "2000-01-01")
    with zipfile.ZipFile(archive) as opened:
        users = [json.loads(line) for line in opened.read("users.jsonl").splitlines()]
        rooms = [json.loads(line)["slug"] for line in opened.read("rooms.jsonl").splitlines()]
    assert sorted(u["username"] for u in users) == ["ann", "ben"]  # cat is not in it
    assert all("password" not in u for u in users)
    assert rooms == ["secret"]

    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(archive) as good, zipfile.ZipFile(damaged, "w") as bad:
        for name in good.namelist():
            data = good.read(name)
            bad.writestr(
                name, data.replace(b"just us", b"not us!") if name == "messages.jsonl" else data
            )
    call_command("flush", interactive=False)
    with pytest.raises(CommandError, match="checksum"):
        call_command("chat_import", str(damaged))
    assert not User.objects.exists()  # refused before any write

    call_command("chat_import", str(archive))
    ann = User.objects.get(username="ann")
    assert not ann.has_usable_password()  # they set one by password reset
    assert [m["body"] for m in history("ben", "secret")] == ["just us"]
    assert Membership.objects.count() == 2
