"""Threads on the write and read paths (issue #24): replies through the one write path,
bad_thread, summaries, auto-follow, per-thread counts kept exact through edits,
deletions and hides, the room's timeline and counts, and the Threads list."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import selectors, services
from chat.errors import ChatError
from chat.models import Membership, Message, Room, Sanction, ThreadFollow
from chat.protocol.codes import ErrorCode
from chat.services.posting import SendRequest, message_post_many, message_post_one
from tests.published import intercept

pytestmark = pytest.mark.django_db(transaction=True)


def post(
    room: Room,
    user: User,
    body: str,
    *,
    thread: int | None = None,
    also: bool = False,
    client_id: str | None = None,
) -> selectors.MessageOut:
    return message_post_one(
        SendRequest(
            room_id=room.pk,
            author=user,
            body=body,
            client_id=client_id or f"{user.pk}-{body}",
            thread=thread,
            also_to_room=also,
        )
    )


def state(user: User, root: int) -> selectors.ThreadState:
    return selectors.thread_states(root_ids=[root], user_ids=[user.pk])[(user.pk, root)]


def follows(root: int) -> set[str]:
    return set(
        ThreadFollow.objects.filter(thread_id=root, following=True).values_list(
            "user__username", flat=True
        )
    )


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def members(room: Room, alice: User, bob: User, carol: User) -> Room:
    for user in (alice, bob, carol):
        Membership.objects.get_or_create(room=room, user=user)
    return room


def test_a_reply_takes_the_rooms_next_seq_and_builds_the_summary(
    members: Room, alice: User, bob: User, carol: User
) -> None:
    root = post(members, alice, "release today?")
    first = post(members, bob, "yes", thread=root["id"])
    second = post(members, carol, "after lunch", thread=root["id"])
    third = post(members, bob, "ok", thread=root["id"])
    assert [first["seq"], second["seq"], third["seq"]] == [root["seq"] + n for n in (1, 2, 3)]
    assert first["thread"] == root["id"]
    assert first["also_to_room"] is False
    [listed] = [m for m in selectors.message_list(room_id=members.pk) if m["id"] == root["id"]]
    summary = listed["thread_summary"]
    assert summary is not None
    assert summary["replies"] == 3
    assert summary["participants"] == ["bob", "carol"]  # most recent first, each once
    assert summary["last_seq"] == third["seq"]
    assert summary["last_reply_at"] == third["created_at"]


def test_the_timeline_holds_top_level_messages_and_replies_sent_to_the_room(
    members: Room, alice: User, bob: User
) -> None:
    root = post(members, alice, "root")
    post(members, bob, "only in the thread", thread=root["id"])
    also = post(members, bob, "in both", thread=root["id"], also=True)
    post(members, alice, "next top-level")
    timeline = [m["body"] for m in selectors.message_list(room_id=members.pk)]
    assert timeline[-3:] == ["root", "in both", "next top-level"]
    thread = services.thread_history(
        room_id=members.pk, root_id=root["id"], user=alice, before=None, limit=50
    )
    assert thread[0]["id"] == root["id"]
    assert [m["body"] for m in thread[1]] == ["only in the thread", "in both"]
    assert also["also_to_room"] is True
    # The room counts its timeline only: bob's two replies are not alice's room unread.
    alice_room = selectors.user_room(user_id=alice.pk, room_id=members.pk)
    assert alice_room is not None
    assert alice_room["unread"] == 1  # "in both" (her own messages do not count)


@pytest.mark.parametrize("case", ["other_room", "a_reply", "deleted", "unknown"])
def test_bad_thread_saves_nothing(members: Room, alice: User, bob: User, case: str) -> None:
    other = Room.objects.create(slug="other", name="Other")
    root = post(members, alice, "root")
    reply = post(members, bob, "reply", thread=root["id"])
    target = {
        "other_room": lambda: post(other, alice, "elsewhere")["id"],
        "a_reply": lambda: reply["id"],
        "deleted": lambda: _deleted(post(members, alice, "gone")["id"], alice),
        "unknown": lambda: 10**9,
    }[case]()
    before = Message.objects.count()
    with pytest.raises(ChatError) as refused:
        post(members, bob, "answer", thread=target)
    assert refused.value.code == ErrorCode.BAD_THREAD
    assert Message.objects.count() == before


def _deleted(message_id: int, user: User) -> int:
    services.message_delete(message_id=message_id, user=user)
    return message_id


def test_a_resend_of_a_saved_reply_is_acknowledged_after_its_root_is_deleted(
    members: Room, alice: User, bob: User
) -> None:
    root = post(members, alice, "root")
    reply = post(members, bob, "reply", thread=root["id"], client_id="r1")
    services.message_delete(message_id=root["id"], user=alice)
    again = post(members, bob, "reply", thread=root["id"], client_id="r1")
    assert again["id"] == reply["id"]


def test_a_batch_refuses_a_bad_thread_alone(members: Room, alice: User, bob: User) -> None:
    root = post(members, alice, "root")
    outcomes = message_post_many(
        [
            SendRequest(members.pk, bob, "good", "g", thread=root["id"]),
            SendRequest(members.pk, bob, "bad", "b", thread=10**9),
        ]
    )
    assert not isinstance(outcomes[0], ChatError)
    assert outcomes[0]["thread"] == root["id"]
    assert isinstance(outcomes[1], ChatError)
    assert outcomes[1].code == ErrorCode.BAD_THREAD


def test_who_follows(members: Room, alice: User, bob: User, carol: User, make_user: Any) -> None:
    dave = make_user("dave")
    Membership.objects.create(room=members, user=dave)
    root = post(members, alice, "root")
    post(members, bob, "@carol what do you think? @room", thread=root["id"])
    # The root's author, the replier and the one named; not everyone @room reached.
    assert follows(root["id"]) == {"alice", "bob", "carol"}
    assert (
        state(bob, root["id"])["last_read_seq"]
        == Message.objects.get(body__startswith="@carol").seq
    )
    services.thread_follow(user=carol, slug=members.slug, root_id=root["id"], following=False)
    assert follows(root["id"]) == {"alice", "bob"}
    post(members, carol, "me again", thread=root["id"])  # replying follows again
    assert follows(root["id"]) == {"alice", "bob", "carol"}
    services.thread_follow(user=dave, slug=members.slug, root_id=root["id"], following=True)
    assert "dave" in follows(root["id"])


def test_counts_are_exact_through_edits_deletions_and_hides(
    members: Room, alice: User, bob: User, carol: User, make_user: Any
) -> None:
    root = post(members, alice, "root")
    one = post(members, bob, "one", thread=root["id"])
    post(members, carol, "two @alice", thread=root["id"])
    three = post(members, bob, "three", thread=root["id"])
    assert (state(alice, root["id"])["unread"], state(alice, root["id"])["mentions"]) == (3, 1)
    services.message_edit(message_id=three["id"], user=bob, body="three @alice")
    assert (state(alice, root["id"])["unread"], state(alice, root["id"])["mentions"]) == (3, 2)
    services.message_delete(message_id=one["id"], user=bob)
    assert state(alice, root["id"])["unread"] == 2
    staff = make_user("mod", is_staff=True)
    services.message_delete(message_id=three["id"], user=staff, reason="spam")
    after = state(alice, root["id"])
    assert (after["unread"], after["mentions"]) == (1, 1)
    summary = services.thread_history(
        room_id=members.pk, root_id=root["id"], user=alice, before=None, limit=5
    )[0]["thread_summary"]
    assert summary is not None
    assert (summary["replies"], summary["participants"]) == (1, ["carol"])
    # Her own reply never counts for her; reading moves the pointer, never back.
    services.thread_read(user=alice, slug=members.slug, root_id=root["id"], seq=10**6)
    assert state(alice, root["id"])["unread"] == 0
    assert state(alice, root["id"])["last_read_seq"] == after["last_seq"]
    _, changed = services.thread_read(user=alice, slug=members.slug, root_id=root["id"], seq=1)
    assert changed is False
    assert selectors.thread_totals(user_ids=[alice.pk])[alice.pk] == {
        "unread_threads": 0,
        "mentions": 0,
    }


def test_replies_publish_thread_updated_and_thread_state(
    members: Room, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = intercept(monkeypatch)
    root = post(members, alice, "root")
    reply = post(members, bob, "hi @alice", thread=root["id"])
    kinds = [p.event["type"] for p in seen]
    assert kinds[-3:] == ["chat.messages", "chat.frame", "chat.thread_states"]
    updated = json.loads(seen[-2].event["frame"])  # type: ignore[typeddict-item]
    assert updated["type"] == "thread.updated"
    assert updated["root"] == root["id"]
    assert updated["summary"]["replies"] == 1
    states = seen[-1].event["states"]  # type: ignore[typeddict-item]
    assert states[str(alice.pk)] == [
        {
            "room": members.slug,
            "root": root["id"],
            "following": True,
            "last_read_seq": 0,
            "unread": 1,
            "mentions": 1,
            "last_seq": reply["seq"],
        }
    ]
    assert states[str(bob.pk)][0]["unread"] == 0


def test_a_deleted_root_stays_in_the_timeline_without_its_content(
    members: Room, alice: User, bob: User
) -> None:
    root = post(members, alice, "secret plan")
    post(members, bob, "reply", thread=root["id"])
    lonely = post(members, alice, "no replies")
    services.message_delete(message_id=root["id"], user=alice)
    services.message_delete(message_id=lonely["id"], user=alice)
    timeline = {m["id"]: m for m in selectors.message_list(room_id=members.pk)}
    assert lonely["id"] not in timeline
    kept = timeline[root["id"]]
    assert kept["deleted"] is True
    assert (kept["body"], kept["html"], kept["author"]) == ("", "", None)
    assert "secret plan" not in json.dumps(kept)
    assert kept["thread_summary"] is not None
    assert kept["thread_summary"]["replies"] == 1


def test_threads_page_orders_filters_and_pages(
    members: Room, alice: User, bob: User, carol: User
) -> None:
    roots = [post(members, alice, f"root {n}") for n in range(5)]
    for n, root in enumerate(roots):
        post(members, bob, f"reply {n}", thread=root["id"])
    # alice read threads 0 and 2; the newest reply first.
    for n in (0, 2):
        services.thread_read(user=alice, slug=members.slug, root_id=roots[n]["id"], seq=10**6)
    page = selectors.threads_page(user_id=alice.pk, unread=False, before=None, limit=2)
    assert [i["root"]["body"] for i in page["items"]] == ["root 4", "root 3"]
    assert page["next"] is not None
    rest = selectors.threads_page(user_id=alice.pk, unread=False, before=page["next"], limit=10)
    assert [i["root"]["body"] for i in rest["items"]] == ["root 2", "root 1", "root 0"]
    assert rest["next"] is None
    unread = selectors.threads_page(user_id=alice.pk, unread=True, before=None, limit=10)
    assert [i["root"]["body"] for i in unread["items"]] == ["root 4", "root 3", "root 1"]
    assert all(i["unread"] == 1 and i["following"] for i in unread["items"])
    assert selectors.thread_totals(user_ids=[alice.pk])[alice.pk]["unread_threads"] == 3
    with pytest.raises(ChatError) as bad:
        selectors.threads_page(user_id=alice.pk, unread=False, before="bm90IGEgY3Vyc29y", limit=5)
    assert bad.value.code == ErrorCode.BAD_CURSOR


def test_threads_of_a_room_one_lost_are_not_counted_or_listed(
    alice: User, bob: User, make_user: Any
) -> None:
    private = services.room_create(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )
    services.membership_add(room=private, user=bob, actor=alice)
    root = post(private, bob, "root")
    post(private, alice, "reply", thread=root["id"])
    assert selectors.thread_totals(user_ids=[bob.pk])[bob.pk]["unread_threads"] == 1
    services.membership_remove(room=private, user=bob, actor=alice)
    assert selectors.thread_totals(user_ids=[bob.pk])[bob.pk]["unread_threads"] == 0
    assert selectors.threads_page(user_id=bob.pk, unread=False, before=None, limit=5)["items"] == []
    Sanction.objects.all().delete()


def test_a_message_may_be_followed_before_its_first_reply(
    members: Room, alice: User, bob: User, carol: User
) -> None:
    root = post(members, alice, "root")
    services.thread_follow(user=carol, slug=members.slug, root_id=root["id"], following=True)
    assert follows(root["id"]) == {"carol"}
    # Not a conversation yet: no summary, not in the Threads list.
    [listed] = [m for m in selectors.message_list(room_id=members.pk) if m["id"] == root["id"]]
    assert listed["thread_summary"] is None
    assert (
        selectors.threads_page(user_id=carol.pk, unread=False, before=None, limit=5)["items"] == []
    )
    post(members, bob, "first", thread=root["id"])
    assert follows(root["id"]) == {"alice", "bob", "carol"}  # the root's author too
    assert state(carol, root["id"])["unread"] == 1
    with pytest.raises(ChatError) as refused:
        services.thread_follow(user=carol, slug=members.slug, root_id=10**9, following=True)
    assert refused.value.code == ErrorCode.BAD_THREAD


def test_hello_reads_the_same_queries_for_1_or_30_followed_threads(
    members: Room, alice: User, bob: User
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.consumers.opening import _rooms_and_backlogs

    def hello_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            _rooms_and_backlogs(user_id=alice.pk, after={}, limit=50)
        return len(captured.captured_queries)

    first = post(members, alice, "root 0")
    post(members, bob, "reply 0", thread=first["id"])
    hello_queries()  # warm: the profile cache
    one = hello_queries()
    for n in range(1, 30):
        root = post(members, alice, f"root {n}")
        post(members, bob, f"reply {n}", thread=root["id"])
    assert selectors.thread_totals(user_ids=[alice.pk])[alice.pk]["unread_threads"] == 30
    assert hello_queries() == one
