"""Who is told of a message: @room / @here / names saved as Mention rows, the @room
size rule, edits, per-room levels and do not disturb, and the notify job being queued
only when someone may need telling (services and selectors, no sockets)."""

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import events, selectors, services
from chat.errors import ChatError
from chat.models import Membership, Mention, Room, Sanction
from chat.presence.stores import MemoryStore
from notify import levels
from notify.selectors import notify_targets
from tests.published import intercept

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asked() -> Iterator[list[events.NotifyItem]]:
    """The notification requests sent after commit (the job itself is not run here)."""
    from notify import receivers

    seen: list[events.NotifyItem] = []

    def record(sender: object, *, items: list[events.NotifyItem], **kwargs: Any) -> None:
        seen.extend(items)

    events.notify_requested.disconnect(dispatch_uid="notify.enqueue")
    events.notify_requested.connect(record, dispatch_uid="test.asked")
    try:
        yield seen
    finally:
        events.notify_requested.disconnect(dispatch_uid="test.asked")
        events.notify_requested.connect(receivers._enqueue, dispatch_uid="notify.enqueue")


@pytest.fixture
def team(make_user: Callable[..., User], room: Room) -> dict[str, User]:
    users = {name: make_user(name) for name in ("alice", "bob", "carol", "dave")}
    for user in users.values():
        services.room_join(user=user, slug=room.slug)
    return users


def post(room: Room, user: User, body: str) -> selectors.MessageOut:
    return services.message_post(room_id=room.pk, author=user, body=body, client_id=body[:60])


def mentioned(message: selectors.MessageOut) -> set[str]:
    rows = Mention.objects.filter(message_id=message["id"]).values_list("user__username", flat=True)
    return set(rows)


def mentions_count(user: User, room: Room) -> int:
    state = selectors.user_room(user_id=user.pk, room_id=room.pk)
    assert state is not None
    return state["mentions"]


def test_room_mention_reaches_every_member_but_the_author(
    room: Room, team: dict[str, User], asked: list[events.NotifyItem]
) -> None:
    message = post(room, team["alice"], "@room standup in 5")
    assert message["group_mention"] == "room"
    assert message["mentions"] == []
    assert mentioned(message) == set()  # no row per member: counted as @room
    for name in ("bob", "carol", "dave"):
        assert mentions_count(team[name], room) == 1
    assert mentions_count(team["alice"], room) == 0
    assert asked == [{"message_id": message["id"], "users": None}]
    found = notify_targets(message["id"])
    assert found is not None
    assert {r.username for r in found[1] if r.mentioned} == {"bob", "carol", "dave"}


def test_room_mention_costs_the_same_queries_in_a_big_room(
    room: Room, team: dict[str, User], make_user: Callable[..., User]
) -> None:
    def queries(body: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            post(room, team["alice"], body)
        return len(captured)

    small = queries("@room one")
    Membership.objects.bulk_create(
        [Membership(room=room, user=make_user(f"user{n}")) for n in range(60)]
    )
    team["alice"].is_staff = True  # above the size rule: staff may
    team["alice"].save()
    assert queries("@room two") <= small + 1  # + the member count of the size rule at most
    newcomer = Membership.objects.filter(room=room).last()
    assert newcomer is not None
    assert mentions_count(newcomer.user, room) == 2  # "@room one" and "@room two"


def test_room_mention_above_the_size_is_for_owner_and_staff(
    room: Room, team: dict[str, User], settings: Any
) -> None:
    settings.CHAT_ROOM_MENTION_MAX_MEMBERS = 3  # the room has 4
    with pytest.raises(ChatError) as refused:
        post(room, team["bob"], "@room hello")
    assert refused.value.code == "room_mention_forbidden"
    assert not Mention.objects.exists()
    room.created_by = team["bob"]
    room.save()
    assert post(room, team["bob"], "@room as the owner")["group_mention"] == "room"
    team["carol"].is_staff = True
    team["carol"].save()
    assert post(room, team["carol"], "@room as staff")["group_mention"] == "room"
    assert post(room, team["dave"], "@here is fine")["group_mention"] == "here"


def test_here_mentions_only_the_members_online_now(room: Room, team: dict[str, User]) -> None:
    store = MemoryStore()  # this process's presence, as a daphne process has it
    store.users[room.pk].update({"bob", "alice", "stranger"})
    message = post(room, team["alice"], "@here quick question, @dave too")
    assert message["group_mention"] == "here"
    assert message["mentions"] == ["dave"]
    assert mentioned(message) == {"bob", "dave"}  # not the author, not a non-member
    del store


def test_an_edit_moves_mentions_and_notifies_only_the_newly_mentioned(
    room: Room, team: dict[str, User], asked: list[events.NotifyItem]
) -> None:
    message = post(room, team["alice"], "hi @bob")
    assert mentions_count(team["bob"], room) == 1
    edited = services.message_edit(message_id=message["id"], user=team["alice"], body="hi @carol")
    assert edited["mentions"] == ["carol"]
    assert mentioned(message) == {"carol"}
    assert mentions_count(team["bob"], room) == 0  # removed by the edit: no longer counted
    assert asked[-1] == {"message_id": message["id"], "users": [team["carol"].pk]}
    asked.clear()
    services.message_edit(message_id=message["id"], user=team["alice"], body="hi @carol again")
    assert asked == []  # nobody new


def test_an_edit_adding_or_removing_room_moves_everyones_count(
    room: Room, team: dict[str, User], asked: list[events.NotifyItem]
) -> None:
    message = post(room, team["alice"], "plain first")
    assert mentions_count(team["carol"], room) == 0
    services.message_edit(message_id=message["id"], user=team["alice"], body="@room after all")
    assert mentions_count(team["carol"], room) == 1
    assert asked == [{"message_id": message["id"], "users": None}]
    services.message_edit(message_id=message["id"], user=team["alice"], body="never mind @bob")
    assert mentions_count(team["carol"], room) == 0
    assert mentions_count(team["bob"], room) == 1
    found = notify_targets(message["id"])
    assert found is not None
    assert {r.username for r in found[1]} == {"bob"}  # only bob is still mentioned


def test_a_plain_message_queues_no_job_unless_a_member_wants_all(
    room: Room, team: dict[str, User], asked: list[events.NotifyItem]
) -> None:
    post(room, team["alice"], "nothing special")
    assert asked == []
    services.notify_level_set(user=team["bob"], slug=room.slug, level="all")
    message = post(room, team["alice"], "now bob wants everything")
    assert asked == [{"message_id": message["id"], "users": None}]
    asked.clear()
    services.notify_level_set(user=team["bob"], slug=room.slug, level="")
    assert Room.objects.get(pk=room.pk).notify_all_members == 0
    post(room, team["alice"], "quiet again")
    assert asked == []


def test_a_direct_message_always_queues_the_job(
    team: dict[str, User], asked: list[events.NotifyItem]
) -> None:
    dm = services.dm_open(user=team["alice"], other=team["bob"])
    message = services.message_post(
        room_id=dm.pk, author=team["alice"], body="psst", client_id="d1"
    )
    assert asked == [{"message_id": message["id"], "users": None}]


def test_batch_sends_queue_one_job_for_the_messages_that_need_one(
    room: Room, team: dict[str, User], asked: list[events.NotifyItem]
) -> None:
    from chat.services.posting import SendRequest, message_post_many

    outcomes = message_post_many(
        [
            SendRequest(room.pk, team["alice"], "plain", "b1"),
            SendRequest(room.pk, team["alice"], "hey @bob", "b2"),
            SendRequest(room.pk, team["bob"], "@room!", "b3"),
        ]
    )
    ids = [o["id"] for o in outcomes if not isinstance(o, ChatError)]
    assert asked == [{"message_id": ids[1], "users": None}, {"message_id": ids[2], "users": None}]


def test_levels_rules() -> None:
    assert levels.effective_level("", is_direct=True) is levels.Level.ALL
    assert levels.effective_level("", is_direct=False) is levels.Level.MENTIONS
    assert levels.effective_level("nothing", is_direct=True) is levels.Level.NOTHING
    assert levels.wants(levels.Level.ALL, mentioned=False)
    assert levels.wants(levels.Level.MENTIONS, mentioned=True)
    assert not levels.wants(levels.Level.MENTIONS, mentioned=False)
    assert not levels.wants(levels.Level.NOTHING, mentioned=True)
    now = timezone.now()
    assert levels.paused(now + timedelta(minutes=1), now)
    assert not levels.paused(now - timedelta(minutes=1), now)
    assert not levels.paused(None, now)


def test_recipients_follow_levels_reads_bans_and_pauses(room: Room, team: dict[str, User]) -> None:
    alice, bob, carol, dave = team["alice"], team["bob"], team["carol"], team["dave"]
    services.notify_level_set(user=carol, slug=room.slug, level="nothing")
    services.notify_prefs_set(user=dave, paused_until=timezone.now() + timedelta(hours=1))
    message = post(room, alice, "@room release is out")
    found = notify_targets(message["id"])
    assert found is not None
    brief, recipients = found
    assert brief.room_slug == room.slug
    assert brief.author == "alice"
    assert brief.excerpt == "@room release is out"
    by_name = {r.username: r for r in recipients}
    assert set(by_name) == {"bob", "dave"}  # carol chose nothing; alice wrote it
    assert by_name["dave"].paused
    assert not by_name["bob"].paused
    assert by_name["bob"].mentioned
    # Read past it, banned, or the message hidden: nobody left to tell.
    services.room_read(user=bob, slug=room.slug, seq=message["seq"])
    Sanction.objects.create(kind=Sanction.Kind.BAN, user=dave, room=room, reason="spam")
    found = notify_targets(message["id"])
    assert found is not None
    assert found[1] == []
    services.message_delete(message_id=message["id"], user=alice)
    assert notify_targets(message["id"]) is None


def test_a_plain_message_in_a_mentions_room_tells_only_those_who_want_all(
    room: Room, team: dict[str, User]
) -> None:
    services.notify_level_set(user=team["bob"], slug=room.slug, level="all")
    message = post(room, team["alice"], "lunch?")
    found = notify_targets(message["id"])
    assert found is not None
    assert [r.username for r in found[1]] == ["bob"]
    assert not found[1][0].mentioned


def test_level_and_prefs_reach_every_connection_of_the_user(
    room: Room, team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = intercept(monkeypatch)
    bob = team["bob"]
    services.notify_level_set(user=bob, slug=room.slug, level="nothing")
    until = timezone.now() + timedelta(hours=8)
    prefs = services.notify_prefs_set(user=bob, paused_until=until)
    frames = [
        (p.event["user_id"], json.loads(p.event["frame"]))
        for p in seen
        if p.event["type"] == "chat.user_frame"
    ]
    assert frames[0] == (bob.pk, {"type": "room.notify", "room": room.slug, "level": "nothing"})
    assert frames[1] == (bob.pk, {"type": "notify.prefs", **prefs})
    assert prefs["paused_until"] == until.isoformat()
    assert selectors.notify_prefs(bob.pk) == prefs
    state = selectors.user_room(user_id=bob.pk, room_id=room.pk)
    assert state is not None
    assert state["notify_level"] == "nothing"
    with pytest.raises(ChatError) as bad:
        services.notify_level_set(user=bob, slug=room.slug, level="loud")
    assert bad.value.code == "bad_level"
    other = Room.objects.create(slug="other", name="Other")
    with pytest.raises(ChatError) as not_joined:
        services.notify_level_set(user=bob, slug=other.slug, level="all")
    assert not_joined.value.code == "not_joined"


def test_member_completion_matches_username_or_display_name(
    room: Room, team: dict[str, User], make_user: Callable[..., User]
) -> None:
    from accounts.models import Profile

    Profile.objects.create(user=team["carol"], display_name="Caroline Bobbins")
    make_user("bobby")  # not a member: never suggested
    found = [p["username"] for p in selectors.room_members_matching(room_id=room.pk, prefix="bo")]
    assert found == ["bob", "carol"]  # a username that starts with it first
    assert len(selectors.room_members_matching(room_id=room.pk, prefix="")) == 4


def test_notification_excerpts_are_plain_text_as_the_page_shows_it(
    room: Room, team: dict[str, User]
) -> None:
    body = "**Release** is out :tada:\n```\nmake <deploy>\n```\n[notes](https://example.com/n)"
    message = post(room, team["alice"], body)
    found = notify_targets(message["id"])
    assert found is not None
    # Push and email previews show text (escaped where they are HTML), never the marks.
    assert found[0].excerpt == "Release is out 🎉 make <deploy> notes"
