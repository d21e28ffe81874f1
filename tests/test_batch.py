"""Group commit: many sends in one transaction (services.message_post_many) and the
per-process writer that batches a connection's sends (chat/group_commit.py)."""

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from accounts.selectors import profile_forget
from chat import events
from chat.database import group_commit, outage
from chat.errors import ChatError
from chat.events import Publication
from chat.models import Message, Room, Sanction
from chat.services import posting, seqs
from chat.services.posting import SendRequest, message_post_many
from tests.published import intercept, saved_seqs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Publication]:
    """Every publication as it leaves (and is still sent)."""
    return intercept(monkeypatch)


def req(room: Room, user: User, body: str, client_id: str) -> SendRequest:
    return SendRequest(room_id=room.pk, author=user, body=body, client_id=client_id)


def test_a_batch_saves_consecutive_seqs_per_room_and_publishes_after_commit(
    room: Room, alice: User, bob: User, published: list[Publication]
) -> None:
    other = Room.objects.create(slug="other", name="Other")
    outcomes = message_post_many(
        [
            req(room, alice, "a1", "a1"),
            req(other, bob, "b1", "b1"),
            req(room, bob, "a2 @alice", "a2"),
            req(other, alice, "b2", "b2"),
        ]
    )
    assert [(o["room"], o["seq"]) for o in outcomes if not isinstance(o, ChatError)] == [
        ("general", 1),
        ("other", 1),
        ("general", 2),
        ("other", 2),
    ]
    saved = Message.objects.get(room=room, seq=2)
    assert (saved.body, saved.mentions) == ("a2 @alice", [])  # alice has not joined: no mention
    assert Room.objects.get(pk=room.pk).last_seq == 2
    seqs = saved_seqs(published)
    assert sorted(seqs) == [(room.pk, 1), (room.pk, 2), (other.pk, 1), (other.pk, 2)]
    assert seqs.index((room.pk, 1)) < seqs.index((room.pk, 2))


def test_refused_sends_do_not_fail_or_number_the_others(
    room: Room, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    muted = make_user("muted")
    Sanction.objects.create(kind="mute", user=muted, room=room, reason="calm down")
    outcomes = message_post_many(
        [
            req(room, alice, "   ", "blank"),
            req(room, muted, "let me talk", "m1"),
            req(room, bob, "fine", "ok1"),
            req(room, alice, "x" * 10_000, "long"),
            req(room, bob, "also fine", "ok2"),
        ]
    )
    codes = [o.code if isinstance(o, ChatError) else o["seq"] for o in outcomes]
    assert codes == ["empty_body", "muted", 1, "body_too_long", 2]
    assert list(Message.objects.values_list("seq", flat=True).order_by("seq")) == [1, 2]


def test_resends_return_the_stored_message_inside_and_across_batches(
    room: Room, alice: User, published: list[Publication]
) -> None:
    first = message_post_many([req(room, alice, "hello", "same")])[0]
    again = message_post_many(
        [
            req(room, alice, "hello (resent)", "same"),
            req(room, alice, "new", "n1"),
            req(room, alice, "new (twice in one batch)", "n1"),
        ]
    )
    assert again[0] == first
    assert again[1] == again[2]
    assert not isinstance(again[1], ChatError)
    assert again[1]["seq"] == 2
    assert Message.objects.count() == 2
    assert len(saved_seqs(published)) == 2  # a resend publishes nothing


def test_a_resend_racing_in_from_elsewhere_fails_only_itself(
    room: Room, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = message_post_many([req(room, alice, "hello", "raced")])[0]
    # The lookup misses it, as when another process commits it meanwhile.
    monkeypatch.setattr(posting, "_already_saved", lambda requests, indexes: {})
    outcomes = message_post_many([req(room, bob, "mine", "b1"), req(room, alice, "again", "raced")])
    assert outcomes[1] == original
    assert not isinstance(outcomes[0], ChatError)
    assert outcomes[0]["body"] == "mine"
    assert list(Message.objects.values_list("seq", flat=True).order_by("seq")) == [1, 2]


def test_a_failed_commit_saves_and_publishes_nothing(
    room: Room, alice: User, monkeypatch: pytest.MonkeyPatch, published: list[Publication]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(posting, "message_out_new", broken)  # after the seq UPDATE and INSERT
    with pytest.raises(OperationalError):
        message_post_many([req(room, alice, "hi @alice", "c1"), req(room, alice, "two", "c2")])
    assert not Message.objects.exists()
    assert Room.objects.get(pk=room.pk).last_seq == 0
    assert saved_seqs(published) == []


async def test_the_writer_batches_concurrent_sends_and_answers_each(
    room: Room, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = intercept(monkeypatch)
    commit = group_commit.GroupCommit()
    users = [alice, bob]
    results = await asyncio.gather(
        *(commit.post(req(room, users[n % 2], f"m{n}", f"c{n}")) for n in range(40)),
        commit.post(req(room, alice, "", "bad")),
        return_exceptions=True,
    )
    assert isinstance(results[-1], ChatError)
    assert results[-1].code == "empty_body"
    seqs = sorted(r["seq"] for r in results[:-1] if isinstance(r, dict))
    assert seqs == list(range(1, 41))
    assert commit.batches < 40  # sends that came together shared transactions
    assert sorted(seq for _, seq in saved_seqs(seen)) == list(range(1, 41))
    # One publish per batch (to the group every hub joins), not one per message.
    assert {publication.group for publication in seen} == {events.MESSAGES_GROUP}
    assert len(seen) <= commit.batches < 40
    assert await database_sync_to_async(Message.objects.count)() == 40


async def test_a_failed_batch_acknowledges_none_of_its_sends(
    room: Room, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(requests: list[SendRequest]) -> list[Any]:
        raise OperationalError("database is gone")

    monkeypatch.setattr(group_commit, "message_post_many", broken)
    commit = group_commit.GroupCommit()
    results = await asyncio.gather(
        commit.post(req(room, alice, "one", "c1")),
        commit.post(req(room, alice, "two", "c2")),
        return_exceptions=True,
    )
    # Refused as the database being away (retryable), not as a server fault.
    assert all(isinstance(result, outage.DatabaseUnavailable) for result in results)
    # The writer keeps working after a failed batch.
    monkeypatch.undo()
    saved = await commit.post(req(room, alice, "three", "c3"))
    assert saved["seq"] == 1


def test_a_batch_costs_the_same_queries_however_many_rooms_and_senders(
    room: Room, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    def queries(requests: list[SendRequest]) -> int:
        profile_forget()  # every author's profile has to be read
        with CaptureQueriesContext(connection) as captured:
            outcomes = message_post_many(requests)
        assert not any(isinstance(o, ChatError) for o in outcomes)
        return len(captured.captured_queries)

    small = queries([req(room, alice, "one", "s1"), req(room, alice, "two", "s2")])
    rooms = [Room.objects.create(slug=f"r{n}", name=f"R{n}", last_seq=n * 10) for n in range(8)]
    senders = [make_user(f"sender{n}") for n in range(12)]
    big = [
        req(rooms[n % len(rooms)], senders[n % len(senders)], f"m{n}", f"b{n}") for n in range(48)
    ]
    assert queries(big) == small  # one seq statement and one profile query for all of them
    for n, target in enumerate(rooms):
        saved = list(
            Message.objects.filter(room=target).order_by("seq").values_list("seq", flat=True)
        )
        assert saved == list(range(n * 10 + 1, n * 10 + 7))  # 48 sends over 8 rooms: 6 each
        assert Room.objects.get(pk=target.pk).last_seq == n * 10 + 6
    resent = message_post_many(big)
    by_author = {o["client_id"]: o["author_display_name"] for o in resent if isinstance(o, dict)}
    assert by_author["b5"] == "sender5"  # resends answer with the stored messages


def test_a_room_deleted_before_the_insert_fails_the_batch_whole(
    room: Room, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = Room.objects.create(slug="gone", name="Gone")
    taking = seqs.room_seq_blocks

    def delete_then_take(counts: dict[int, int]) -> Any:
        Room.objects.filter(pk=gone.pk).delete()  # as if deleted after the access check
        return taking(counts)

    monkeypatch.setattr(posting, "room_seq_blocks", delete_then_take)
    with pytest.raises(ChatError) as refused:
        message_post_many([req(room, alice, "one", "c1"), req(gone, alice, "two", "c2")])
    assert refused.value.code == "room_not_found"
    assert not Message.objects.exists()
    assert Room.objects.get(pk=room.pk).last_seq == 0


@pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="row locks between two writers: PostgreSQL (SQLite has one writer at a time)",
)
def test_two_writers_taking_seqs_in_the_same_rooms_never_deadlock(alice: User, bob: User) -> None:
    rooms = [Room.objects.create(slug=f"shared{n}", name=f"S{n}") for n in range(6)]
    failures: list[BaseException] = []

    def write(user: User, order: list[Room], tag: str) -> None:
        try:
            for round_ in range(15):
                message_post_many(
                    [req(r, user, f"{tag}{round_}", f"{tag}{round_}-{r.pk}") for r in order]
                )
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=write, args=(alice, rooms, "a")),
        threading.Thread(target=write, args=(bob, rooms[::-1], "b")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    for target in rooms:
        seqs = list(
            Message.objects.filter(room=target).order_by("seq").values_list("seq", flat=True)
        )
        assert seqs == list(range(1, 31))


def test_saved_messages_are_what_reading_them_back_gives(
    room: Room, alice: User, bob: User
) -> None:
    """The batch builds each saved message's object from the row it inserted (no read
    back): it must equal the object every reader builds from the database."""
    from chat.models import Membership
    from chat.services.posting import NewAttachment
    from chat.services.resends import message_by_client_id

    for user in (alice, bob):
        Membership.objects.create(room=room, user=user)
    root = message_post_many([req(room, alice, "the root", "r0")])[0]
    assert not isinstance(root, ChatError)
    file = NewAttachment(
        kind="file", file="a/b.txt", name="b.txt", content_type="text/plain", size=3
    )
    outcomes = message_post_many(
        [
            req(room, alice, "plain words", "c1"),
            req(room, bob, "**bold**, `code` and @alice @here", "c2"),
            SendRequest(
                room_id=room.pk, author=alice, body="yes", client_id="c3", reply_to=root["id"]
            ),
            SendRequest(
                room_id=room.pk, author=bob, body="in it", client_id="c4", thread=root["id"]
            ),
            SendRequest(room_id=room.pk, author=bob, body="", client_id="c5", attachment=file),
        ]
    )
    authors = {"c1": alice, "c2": bob, "c3": alice, "c4": bob, "c5": bob}
    saved = [outcome for outcome in outcomes if not isinstance(outcome, ChatError)]
    assert len(saved) == len(outcomes)
    for message in saved:
        stored = message_by_client_id(
            room_id=room.pk, author=authors[message["client_id"]], client_id=message["client_id"]
        )
        assert message == stored
    assert saved[1]["mentions"] == ["alice"]
    assert saved[2]["reply_to"] is not None
    assert saved[3]["thread"] == root["id"]
