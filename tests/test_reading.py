"""Joined rooms and read state in the service and selector layers: joining, leaving,
the read pointer, unread and mention counts, and what gets published (no sockets)."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import selectors, services
from chat.errors import ChatError
from chat.events import Publication
from chat.models import Membership, Message, Room, Sanction
from tests.published import intercept

pytestmark = pytest.mark.django_db(transaction=True)


class Published(dict[str, list[Any]]):
    """What the services published after commit, as it left: counts and membership."""

    def __init__(self, seen: list[Publication]) -> None:
        super().__init__()
        self.seen = seen

    def __getitem__(self, kind: str) -> list[Any]:
        found: list[Any] = []
        for publication in self.seen:
            event: dict[str, Any] = dict(publication.event)
            if kind == "counts" and event["type"] == "chat.counts":
                states = {int(uid): state for uid, state in event["counts"].items()}
                found.append((event["room"], states))
            elif kind == "membership" and event["type"] == "chat.membership":
                found.append({k: v for k, v in event.items() if k != "type"})
        return found


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    return Published(intercept(monkeypatch))


def post(room: Room, user: User, body: str) -> selectors.MessageOut:
    return services.message_post(
        room_id=room.pk, author=user, body=body, client_id=f"{user.pk}-{body}"
    )


def state(user: User, room: Room) -> selectors.RoomState:
    found = selectors.user_room(user_id=user.pk, room_id=room.pk)
    assert found is not None
    return found


@pytest.fixture
def joined(room: Room, alice: User, bob: User) -> Room:
    services.room_join(user=alice, slug=room.slug)
    services.room_join(user=bob, slug=room.slug)
    return room


def test_every_new_account_joins_the_default_rooms_with_nothing_unread(
    make_user: Callable[..., User], alice: User
) -> None:
    lobby = Room.objects.create(slug="hall", name="Hall", is_default=True)
    post(lobby, alice, "before carol")
    carol = make_user("carol")  # a plain create: the admin, a script, sign-up alike
    defaults = set(Room.objects.filter(is_default=True).values_list("slug", flat=True))
    assert "hall" in defaults
    assert {r["slug"] for r in selectors.user_rooms(user_id=carol.pk)} == defaults
    assert state(carol, lobby)["last_read_seq"] == 1
    assert state(carol, lobby)["unread"] == 0


def test_joining_a_public_room_starts_the_pointer_at_its_last_seq(
    room: Room, alice: User, bob: User, published: Published
) -> None:
    services.room_join(user=bob, slug=room.slug)
    post(room, bob, "one")
    post(room, bob, "two")
    joined_state, created = services.room_join(user=alice, slug=room.slug)
    assert created
    assert (joined_state["last_read_seq"], joined_state["unread"]) == (2, 0)
    assert joined_state["kind"] == "public"
    assert published["membership"][-1] == {
        "user_id": alice.pk,
        "room_id": room.pk,
        "room": room.slug,
        "action": "joined",
        "reason": "",
    }
    again, created = services.room_join(user=alice, slug=room.slug)
    assert not created
    assert again == joined_state
    assert len(published["membership"]) == 2  # bob's join and alice's first, nothing more


def test_join_refuses_missing_private_and_banned_rooms(alice: User, bob: User, room: Room) -> None:
    secret = services.room_create(
        slug="secret", name="Secret", topic="", creator=bob, is_private=True
    )
    with pytest.raises(ChatError) as missing:
        services.room_join(user=alice, slug="nope")
    with pytest.raises(ChatError) as private:
        services.room_join(user=alice, slug=secret.slug)
    Sanction.objects.create(kind="ban", user=alice, room=room, reason="spam")
    with pytest.raises(ChatError) as banned:
        services.room_join(user=alice, slug=room.slug)
    assert (missing.value.code, private.value.code, banned.value.code) == (
        "room_not_found",
        "forbidden",
        "banned",
    )
    assert not Membership.objects.filter(user=alice).exclude(room__slug="lobby").exists()


def test_unread_counts_others_visible_messages_and_mentions(
    joined: Room, alice: User, bob: User
) -> None:
    post(joined, alice, "mine does not count")
    post(joined, bob, "hello")
    mention = post(joined, bob, "@ALICE, look")
    services.message_post_system(room_id=joined.pk, body="server says hi")
    seen = state(alice, joined)
    assert (seen["unread"], seen["mentions"], seen["last_seq"]) == (3, 1, 4)
    assert mention["mentions"] == ["alice"]
    assert state(bob, joined)["unread"] == 2  # alice's and the system message


def test_mentions_only_name_members(
    joined: Room, alice: User, make_user: Callable[..., User]
) -> None:
    make_user("dave")  # exists, but has not joined the room
    message = post(joined, alice, "@dave @bob @alice")
    assert message["mentions"] == ["bob", "alice"]
    stored = selectors.message_list(room_id=joined.pk, limit=5)
    assert stored[-1]["mentions"] == ["bob", "alice"]  # the hand-written read agrees


def test_edit_that_adds_or_removes_a_mention_updates_and_publishes_counts(
    joined: Room, alice: User, bob: User, published: Published
) -> None:
    message = post(joined, bob, "plain")
    assert state(alice, joined)["mentions"] == 0
    services.message_edit(message_id=message["id"], user=bob, body="now @alice")
    assert state(alice, joined)["mentions"] == 1
    assert published["counts"][-1] == (
        joined.slug,
        {alice.pk: {"last_read_seq": 0, "unread": 1, "mentions": 1, "last_seq": 1}},
    )
    edited = services.message_edit(message_id=message["id"], user=bob, body="never mind")
    assert edited["mentions"] == []
    assert state(alice, joined)["mentions"] == 0
    assert published["counts"][-1][1][alice.pk]["mentions"] == 0


def test_deleting_or_hiding_a_counted_message_lowers_the_counts(
    joined: Room,
    alice: User,
    bob: User,
    make_user: Callable[..., User],
    published: Published,
) -> None:
    first = post(joined, bob, "hi @alice")
    second = post(joined, bob, "again")
    services.message_delete(message_id=first["id"], user=bob)
    assert (state(alice, joined)["unread"], state(alice, joined)["mentions"]) == (1, 0)
    # Only members who had it unread hear of it, never its author.
    assert set(published["counts"][-1][1]) == {alice.pk}
    moderator = make_user("mod", is_staff=True)
    services.message_delete(message_id=second["id"], user=moderator, reason="off topic")
    assert state(alice, joined)["unread"] == 0
    assert Message.objects.filter(deleted_at__isnull=False).count() == 2


def test_read_pointer_only_moves_forward_and_never_past_the_last_seq(
    joined: Room, alice: User, bob: User, published: Published
) -> None:
    for n in range(3):
        post(joined, bob, f"m{n}")
    slug, read, changed = services.room_read(user=alice, slug=joined.slug, seq=2)
    assert (slug, changed, read["last_read_seq"], read["unread"]) == (joined.slug, True, 2, 1)
    assert published["counts"][-1] == (joined.slug, {alice.pk: read})
    _, back, changed = services.room_read(user=alice, slug=joined.slug, seq=1)
    assert not changed
    assert back["last_read_seq"] == 2
    _, far, changed = services.room_read(user=alice, slug=joined.slug, seq=999)
    assert changed
    assert far == {"last_read_seq": 3, "unread": 0, "mentions": 0, "last_seq": 3}
    assert len(published["counts"]) == 2  # the unchanged read published nothing


def test_read_in_a_room_not_joined_is_refused(room: Room, alice: User) -> None:
    with pytest.raises(ChatError) as refused:
        services.room_read(user=alice, slug=room.slug, seq=1)
    assert refused.value.code == "not_joined"


def test_leaving_publishes_left_and_direct_rooms_cannot_be_left(
    joined: Room, alice: User, bob: User, published: Published
) -> None:
    services.room_leave(user=alice, slug=joined.slug)
    assert published["membership"][-1]["reason"] == "left"
    assert selectors.user_room(user_id=alice.pk, room_id=joined.pk) is None
    with pytest.raises(ChatError) as twice:
        services.room_leave(user=alice, slug=joined.slug)
    dm = services.dm_open(user=alice, other=bob)
    with pytest.raises(ChatError) as direct:
        services.room_leave(user=alice, slug=dm.slug)
    assert (twice.value.code, direct.value.code) == ("not_joined", "cannot_leave")


def test_removal_and_room_ban_publish_left_with_their_reason(
    alice: User, bob: User, joined: Room, published: Published
) -> None:
    secret = services.room_create(
        slug="secret", name="Secret", topic="", creator=bob, is_private=True
    )
    services.membership_add(room=secret, user=alice, actor=bob)
    assert published["membership"][-1]["action"] == "joined"
    services.membership_remove(room=secret, user=alice, actor=bob)
    assert published["membership"][-1] == {
        "user_id": alice.pk,
        "room_id": secret.pk,
        "room": "secret",
        "action": "left",
        "reason": "removed",
    }
    services.sanction_create(kind="ban", user=alice, room=joined, reason="spam", actor=bob)
    assert published["membership"][-1]["reason"] == "banned"
    assert joined.slug not in [r["slug"] for r in selectors.user_rooms(user_id=alice.pk)]


def test_user_rooms_lists_kinds_and_the_other_person_of_a_dm(
    alice: User, bob: User, joined: Room
) -> None:
    services.room_create(slug="zz-secret", name="Zz", topic="", creator=alice, is_private=True)
    services.dm_open(user=alice, other=bob)
    rooms = selectors.user_rooms(user_id=alice.pk)
    assert [r["can_manage"] for r in rooms] == [False, True, False]  # she owns zz-secret
    assert [(r["kind"], r["other"]) for r in rooms] == [
        ("public", None),
        ("private", None),
        ("direct", {"username": "bob"}),
    ]


def test_connect_reads_cost_the_same_for_2_and_50_rooms(
    alice: User, make_user: Callable[..., User]
) -> None:
    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            selectors.account_allowed(user_id=alice.pk)
            rooms = selectors.user_rooms(user_id=alice.pk)
            selectors.message_backlogs(after={r["id"]: 0 for r in rooms}, limit=10)
        return len(queries)

    for n in range(2):
        services.room_create(slug=f"r{n}", name=f"R{n}", topic="", creator=alice)
    small = cost()
    for n in range(2, 50):
        services.room_create(slug=f"r{n}", name=f"R{n}", topic="", creator=alice)
    assert len(selectors.user_rooms(user_id=alice.pk)) == 50
    assert cost() == small


def test_backlogs_of_several_rooms_in_one_read(alice: User, bob: User) -> None:
    rooms = [
        services.room_create(slug=f"b{n}", name=f"B{n}", topic="", creator=bob) for n in range(3)
    ]
    for n in range(5):
        post(rooms[0], bob, f"zero {n}")
    post(rooms[1], bob, "one")
    backlog = selectors.message_backlogs(
        after={rooms[0].pk: 1, rooms[1].pk: 0, rooms[2].pk: 0}, limit=3
    )
    assert [m["seq"] for m in backlog[rooms[0].pk]["messages"]] == [3, 4, 5]
    assert backlog[rooms[0].pk]["complete"] is False  # seq 2 was left out
    assert [m["body"] for m in backlog[rooms[1].pk]["messages"]] == ["one"]
    assert backlog[rooms[1].pk]["complete"] is True
    assert backlog[rooms[2].pk] == {"messages": [], "complete": True, "last_seq": 0}
