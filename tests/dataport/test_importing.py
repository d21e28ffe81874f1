"""The bulk history writer (chat/services/importing.py): seqs in the order given after
the room's last one, threads, quotes, mentions, reactions, edits, files, deleted rows
holding their seqs, read pointers at the end, search, and nothing published."""

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from PIL import Image

from chat import selectors, services
from chat.models import (
    Attachment,
    Mention,
    Message,
    MessageEdit,
    Reaction,
    Room,
    Thread,
    ThreadFollow,
)
from chat.services import importing
from chat.services.importing import EarlierText, HistoryRow, ImportedReaction
from chat.services.posting import NewAttachment, message_post
from tests.published import intercept

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def team(make_user: Callable[..., User]) -> tuple[User, User, User, Room]:
    ann, ben, cat = make_user("ann"), make_user("ben"), make_user("cat")
    room = services.room_create(slug="ops", name="Ops", topic="", creator=ann, is_private=True)
    services.membership_add(room=room, user=ben, actor=ann)
    services.membership_add(room=room, user=cat, actor=ann)
    return ann, ben, cat, room


def test_history_is_appended_in_order_consistent_and_silent(
    team: tuple[User, User, User, Room], monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, ben, cat, room = team
    message_post(room_id=room.pk, author=ann, body="live before", client_id="c1")
    seen = intercept(monkeypatch)
    file = NewAttachment(
        kind=Attachment.Kind.FILE, file="attachments/x/f", name="plan.txt",
        content_type="text/plain", size=4,
    )  # fmt: skip
    rows = [
        HistoryRow(key="r", author_id=ann.pk, body="deploy at noon @ben", created_at=at(0),
                   edited_at=at(3), edits=(EarlierText("deploy at 11", at(3)),),
                   reactions=(ImportedReaction(ben.pk, "👍"), ImportedReaction(cat.pk, "nope"))),
        HistoryRow(key="a", author_id=ben.pk, body="ok", created_at=at(1), thread_root_key="r"),
        HistoryRow(key="gone", author_id=cat.pk, body="", created_at=at(2), deleted_at=at(2)),
        HistoryRow(key="b", author_id=cat.pk, body="me too @ann", created_at=at(4),
                   thread_root_key="r", also_to_room=True),
        HistoryRow(key="q", author_id=ann.pk, body="see above", created_at=at(5),
                   reply_to_key="a", attachment=file),
        HistoryRow(key="lost", author_id=ann.pk, body="orphan", created_at=at(6),
                   thread_root_key="nowhere"),
        HistoryRow(key="gap", author_id=ann.pk, body="after a gap", created_at=at(7), seq=20),
    ]  # fmt: skip
    monkeypatch.setattr(importing, "SQLITE_BATCH_ROWS", 2)  # several batches, cut runs
    monkeypatch.setattr(importing, "PG_BATCH_ROWS", 2)
    ids = importing.history_import(room.pk, rows)

    saved = {key: Message.objects.get(pk=pk) for key, pk in ids.items()}
    assert [saved[k].seq for k in ["r", "a", "gone", "b", "q", "lost", "gap"]] == [
        2, 3, 4, 5, 6, 7, 20,
    ]  # fmt: skip
    room.refresh_from_db()
    assert room.last_seq == 20
    assert saved["r"].created_at == at(0)
    assert saved["r"].edited_at == at(3)
    assert list(MessageEdit.objects.filter(message=saved["r"]).values_list("body", flat=True)) == [
        "deploy at 11"
    ]
    assert saved["a"].thread_id == saved["r"].pk
    assert not saved["a"].also_to_room
    assert saved["b"].thread_id == saved["r"].pk
    assert saved["b"].also_to_room
    assert saved["q"].reply_to_id == saved["a"].pk
    assert saved["lost"].thread_id is None  # its root is not in the source: top level
    assert saved["gone"].deleted_at == at(2)
    assert saved["r"].mentions == ["ben"]
    assert "ben" in saved["r"].html
    assert set(Mention.objects.values_list("message_id", "user_id")) == {
        (saved["r"].pk, ben.pk),
        (saved["b"].pk, ann.pk),
    }
    assert list(Reaction.objects.values_list("message_id", "user_id", "emoji")) == [
        (saved["r"].pk, ben.pk, "👍")
    ]  # "nope" is not one of ours: skipped
    assert Attachment.objects.get().message_id == saved["q"].pk
    thread = Thread.objects.get(root_id=saved["r"].pk)
    assert (thread.replies, thread.last_seq, thread.last_reply_at) == (2, 5, at(4))
    assert thread.participants == ["cat", "ben"]
    follows = dict(ThreadFollow.objects.values_list("user_id", "last_read_seq"))
    assert follows == {ann.pk: 5, ben.pk: 5, cat.pk: 5}  # root's author, repliers, named
    states = selectors.read_states(room_id=room.pk)
    assert {s["unread"] for s in states.values()} == {0}
    assert {s["mentions"] for s in states.values()} == {0}
    assert {s["last_read_seq"] for s in states.values()} == {20}
    assert seen == []  # history is not live: no frame, no notification job

    # Searchable at once (PostgreSQL's expression index, SQLite's insert trigger).
    client = Client()
    client.force_login(ben)
    found = client.get("/api/search/", {"q": "orphan"}).json()
    assert [m["seq"] for m in found["results"]] == [7]

    # A live send afterwards takes the next seq.
    assert message_post(room_id=room.pk, author=ann, body="live", client_id="c2")["seq"] == 21


def test_later_calls_find_roots_of_earlier_ones_and_seqs_never_go_back(
    team: tuple[User, User, User, Room],
) -> None:
    ann, ben, _, room = team
    first = importing.history_import(
        room.pk, [HistoryRow(key="root", author_id=ann.pk, body="q?", created_at=at(0))]
    )
    second = importing.history_import(
        room.pk,
        [
            HistoryRow(
                key="ans", author_id=ben.pk, body="a", created_at=at(1), thread_root_key="root"
            )
        ],
        known=first,
    )
    assert Message.objects.get(pk=second["ans"]).thread_id == first["root"]
    with pytest.raises(ValueError, match="not above"):
        importing.history_import(
            room.pk, [HistoryRow(key="old", author_id=ann.pk, body="x", created_at=at(2), seq=1)]
        )
    assert Message.objects.filter(room=room).count() == 2  # the refused batch saved nothing


def test_files_are_stored_as_images_or_downloads(
    team: tuple[User, User, User, Room], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    ann, _, _, room = team
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(picture, "PNG")
    picture.seek(0)
    image = importing.attachment_store(room.pk, "photo.png", picture)
    text = importing.attachment_store(room.pk, "../notes.txt", io.BytesIO(b"x" * 70_000))
    fake = importing.attachment_store(room.pk, "bad.png", io.BytesIO(b"\x89PNG\r\n\x1a\nnope"))
    assert (image.kind, image.width, image.height) == ("image", 40, 30)
    assert image.thumbnail
    assert (text.kind, text.name, text.size, text.content_type) == (
        "file", "notes.txt", 70_000, "text/plain",
    )  # fmt: skip
    assert (fake.kind, fake.size) == ("file", 12)  # not an image we decode: a download
    importing.history_import(
        room.pk,
        [
            HistoryRow(key=str(i), author_id=ann.pk, body="", created_at=at(i), attachment=a)
            for i, a in enumerate([image, text])
        ],
    )
    client = Client()
    client.force_login(ann)
    page = client.get(f"/api/rooms/{room.slug}/messages/").json()["messages"]
    assert [m["attachment"]["kind"] for m in page] == ["image", "file"]
    download = client.get(page[1]["attachment"]["url"])
    assert b"".join(download.streaming_content) == b"x" * 70_000  # type: ignore[attr-defined]
