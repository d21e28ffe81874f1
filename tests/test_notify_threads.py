"""Who is told of a reply in a thread (notify/selectors.py, levels.wants_reply): the
thread's followers, never the reply's author, unless the room is at `nothing`, do not
disturb is on (no push) or "replies in threads I follow" is off; mentions as today; one
notification per person; nobody who may no longer read the room. Then what they get:
the Web Push payload (a local push service, real encryption) and the missed-messages
email (a real SMTP server), both saying it is a reply and linking to the thread."""

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from chat import selectors, services
from chat.models import Membership, Message, NotifyPrefs, Room, Sanction, ThreadFollow
from notify.missed import missed_items
from notify.models import MissedEmailState
from notify.selectors import Recipient, notify_targets
from notify.tasks import message_notify
from tests.jobs import run_due_jobs
from tests.published import intercept
from tests.smtp import Inbox, smtp_server
from tests.test_missed_email import parts
from tests.test_push import Device, PushService, browser, call, push_on, push_service

__all__ = ["push_on", "push_service"]  # test_push's fixtures, used here by name

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "https://chat.example.com"


@pytest.fixture
def team(make_user: Callable[..., User], room: Room) -> dict[str, User]:
    users = {
        name: make_user(name, email=f"{name}@example.com")
        for name in ("alice", "bob", "carol", "dave")
    }
    for user in users.values():
        services.room_join(user=user, slug=room.slug)
    return users


def post(room: Room, author: User, body: str) -> int:
    out = services.message_post(
        room_id=room.pk, author=author, body=body, client_id=f"c{time.monotonic_ns()}"
    )
    return out["id"]


def reply(room: Room, author: User, root: int, body: str, *, also_to_room: bool = False) -> int:
    out = services.message_post_one(
        services.SendRequest(
            room_id=room.pk,
            author=author,
            body=body,
            client_id=f"c{time.monotonic_ns()}",
            thread=root,
            also_to_room=also_to_room,
        )
    )
    return out["id"]


def follow(user: User, room: Room, root: int, following: bool = True) -> None:
    services.thread_follow(user=user, slug=room.slug, root_id=root, following=following)


def told(message_id: int) -> dict[str, Recipient]:
    found = notify_targets(message_id)
    assert found is not None
    names = [r.username for r in found[1]]
    assert len(names) == len(set(names))  # one notification per person
    return {r.username: r for r in found[1]}


def test_followers_are_told_of_each_reply_and_its_author_never(
    room: Room, team: dict[str, User]
) -> None:
    alice, bob, carol = (team[n] for n in ("alice", "bob", "carol"))
    root = post(room, alice, "release plan for friday")
    first = reply(room, bob, root, "I can take the changelog")
    # The root's author follows from the first reply; the replier writes it.
    assert set(told(first)) == {"alice"}
    follow(carol, room, root)
    second = reply(room, bob, root, "changelog done")
    recipients = told(second)
    assert set(recipients) == {"alice", "carol"}  # not bob (the author), not dave
    assert all(r.follower and not r.mentioned for r in recipients.values())
    third = reply(room, alice, root, "thanks")
    assert set(told(third)) == {"bob", "carol"}
    follow(carol, room, root, following=False)
    assert set(told(reply(room, bob, root, "one more"))) == {"alice"}
    assert "dave" not in told(reply(room, bob, root, "still not dave"))


def test_level_nothing_and_the_setting_silence_a_follower_but_not_a_mention(
    room: Room, team: dict[str, User]
) -> None:
    alice, bob, carol, dave = (team[n] for n in ("alice", "bob", "carol", "dave"))
    root = post(room, alice, "thread about lunch")
    reply(room, bob, root, "pizza?")
    for user in (carol, dave):
        follow(user, room, root)
    services.notify_level_set(user=carol, slug=room.slug, level="nothing")
    services.notify_prefs_set(user=alice, thread_replies=False)
    assert set(told(reply(room, bob, root, "or sushi"))) == {"dave"}
    # A mention is told as today, whatever the thread setting; `nothing` stays silent.
    named = told(reply(room, bob, root, "@alice @carol which one?"))
    assert set(named) == {"alice", "dave"}
    assert named["alice"].mentioned
    assert not named["alice"].follower


def test_do_not_disturb_keeps_a_follower_from_push(room: Room, team: dict[str, User]) -> None:
    alice, bob = team["alice"], team["bob"]
    root = post(room, alice, "quiet please")
    reply(room, bob, root, "ok")
    services.notify_prefs_set(user=alice, paused_until=timezone.now() + timedelta(hours=1))
    recipients = told(reply(room, bob, root, "still there?"))
    assert recipients["alice"].paused  # the job pushes to nobody paused


def test_a_reply_also_sent_to_a_room_at_level_all_is_told_once(
    room: Room, team: dict[str, User]
) -> None:
    alice, bob, carol, dave = (team[n] for n in ("alice", "bob", "carol", "dave"))
    root = post(room, alice, "design review")
    reply(room, bob, root, "first")
    follow(carol, room, root)
    for user in (carol, dave):
        services.notify_level_set(user=user, slug=room.slug, level="all")
    # Kept in the thread: `all` is about the room's timeline, so only followers hear it.
    assert set(told(reply(room, bob, root, "in the thread only"))) == {"alice", "carol"}
    shown = told(reply(room, bob, root, "for everyone", also_to_room=True))
    assert set(shown) == {"alice", "carol", "dave"}
    assert shown["carol"].follower
    assert not shown["dave"].follower


def test_a_follower_who_may_no_longer_read_the_room_is_not_told(
    team: dict[str, User], make_user: Callable[..., User]
) -> None:
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    secret = services.room_create(
        slug="secret", name="Secret", topic="", creator=alice, is_private=True
    )
    for user in (bob, carol):
        services.membership_add(room=secret, user=user, actor=alice)
    root = post(secret, alice, "private plans")
    reply(secret, bob, root, "noted")
    follow(carol, secret, root)
    assert set(told(reply(secret, bob, root, "more"))) == {"alice", "carol"}
    services.membership_remove(room=secret, user=carol, actor=alice)
    assert ThreadFollow.objects.filter(user=carol, following=True).exists()
    assert set(told(reply(secret, bob, root, "after carol left"))) == {"alice"}
    Sanction.objects.create(user=alice, kind=Sanction.Kind.BAN, room=None)
    assert set(told(reply(secret, bob, root, "after alice's ban"))) == set()


def test_a_public_rooms_follower_who_never_joined_is_told_until_banned(
    room: Room, team: dict[str, User], make_user: Callable[..., User]
) -> None:
    alice, bob = team["alice"], team["bob"]
    erin = make_user("erin", email="erin@example.com")
    root = post(room, alice, "open question")
    reply(room, bob, root, "answer")
    follow(erin, room, root)
    assert not Membership.objects.filter(user=erin).exists()
    better = reply(room, bob, root, "a better answer")
    recipients = told(better)
    assert set(recipients) == {"alice", "erin"}
    assert recipients["erin"].follower
    # An edit that names someone new tells only them (erin was told of the reply).
    dave = team["dave"]
    services.message_edit(message_id=better, user=bob, body="a better answer, @dave")
    found = notify_targets(better, [dave.pk])
    assert found is not None
    assert [r.username for r in found[1]] == ["dave"]
    Sanction.objects.create(user=erin, kind=Sanction.Kind.BAN, room=room)
    # dave follows since he was named (auto-follow); erin, banned, is told nothing.
    assert set(told(reply(room, bob, root, "after erin's ban"))) == {"alice", "dave"}


def test_telling_a_reply_costs_the_same_queries_however_many_follow(
    room: Room, team: dict[str, User], make_user: Callable[..., User]
) -> None:
    alice, bob = team["alice"], team["bob"]
    root = post(room, alice, "popular thread")
    reply(room, bob, root, "first")

    def queries() -> int:
        message_id = reply(room, bob, root, "another")
        with CaptureQueriesContext(connection) as captured:
            notify_targets(message_id)
        return len(captured)

    few = queries()
    for n in range(30):
        follower = make_user(f"fan{n}")
        if n % 2:
            services.room_join(user=follower, slug=room.slug)
        follow(follower, room, root)
    assert queries() == few <= 3  # the reply, its members, followers outside the room
    assert len(told(reply(room, bob, root, "to all fans"))) == 31


def test_a_reply_read_in_its_thread_is_not_told(room: Room, team: dict[str, User]) -> None:
    alice, bob = team["alice"], team["bob"]
    root = post(room, alice, "status?")
    first = reply(room, bob, root, "green")
    services.thread_read(user=alice, slug=room.slug, root_id=root, seq=_seq(first))
    assert told(first) == {}


# --- Web Push ----------------------------------------------------------------------------


def subscribe(service: PushService, user: User, name: str) -> Device:
    device = Device.new(service.endpoint(name))
    assert call(browser(user), "POST", device.as_json()).status_code == 201
    return device


@pytest.mark.usefixtures("push_on")
def test_a_followers_push_says_it_is_a_reply_and_opens_the_thread_once(
    room: Room, team: dict[str, User], request: pytest.FixtureRequest
) -> None:
    push_service: PushService = request.getfixturevalue("push_service")
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    phone = subscribe(push_service, carol, "carol-phone")
    root = post(room, alice, "**Release** plan for friday")
    reply(room, bob, root, "first")
    follow(carol, room, root)
    services.notify_level_set(user=carol, slug=room.slug, level="all")
    message_id = reply(room, bob, root, "changelog done", also_to_room=True)
    # Asked for twice (the thread's and the room's reason): told once.
    message_notify.call([{"message_id": message_id}, {"message_id": message_id}])
    [pushed] = push_service.received
    payload = phone.decrypt(pushed.body)
    assert payload["thread"] == root
    assert payload["thread_excerpt"] == "Release plan for friday"
    assert payload["body"] == "changelog done"
    assert payload["url"] == f"/chat/{room.slug}/?thread={root}"
    assert payload["message_id"] == message_id


# --- the missed-messages email -----------------------------------------------------------


@pytest.fixture
def inbox(settings: Any) -> Iterator[Inbox]:
    with smtp_server() as (received, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "chat@example.com"
        settings.CHAT_SITE_URL = SITE
        settings.CHAT_EMAIL_MISSED_DELAY_SECONDS = 0
        yield received


def test_the_reply_jobs_email_a_follower_once_with_the_thread_and_its_link(
    inbox: Inbox, room: Room, team: dict[str, User]
) -> None:
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    root = post(room, alice, "Where do we meet?")
    replies = [reply(room, bob, root, "room 4"), reply(room, bob, root, "at ten")]
    for message_id in replies:  # each reply's own job, as the runner would run it
        message_notify.call([{"message_id": message_id}])
    DBTaskResult.objects.exclude(task_path="notify.tasks.missed_emails").delete()
    run_due_jobs()
    [mail] = inbox.messages
    assert mail["To"] == "alice@example.com"
    assert mail["Subject"] == "2 unread messages for you in the chat"
    body = parts(mail)
    for text in body.values():
        assert "in thread: Where do we meet?" in text
        assert "room 4" in text
        assert "at ten" in text
        assert f"{SITE}/chat/{room.slug}/?thread={root}" in text
    assert carol.email not in {m["To"] for m in inbox.messages}


def test_what_the_email_lists_of_threads(room: Room, team: dict[str, User]) -> None:
    """Unread replies of followed threads; not once read in the thread, nor with the
    setting off, nor at level nothing, nor one's own."""
    alice, bob, carol = team["alice"], team["bob"], team["carol"]
    root = post(room, alice, "topic")
    first = reply(room, bob, root, "one")
    follow(carol, room, root)
    second = reply(room, bob, root, "two")

    def listed(user: User) -> list[int]:
        prefs = selectors.notify_prefs(user.pk)
        items, _ = missed_items(user.pk, after_id=0, thread_replies=prefs["thread_replies"])
        return [item.id for item in items]

    assert listed(alice) == [first, second]
    assert listed(carol) == [first, second]  # followed after "one": still unread for her
    assert listed(bob) == []
    services.thread_read(user=alice, slug=room.slug, root_id=root, seq=_seq(first))
    assert listed(alice) == [second]
    services.notify_prefs_set(user=carol, thread_replies=False)
    assert listed(carol) == []
    services.notify_prefs_set(user=carol, thread_replies=True)
    services.notify_level_set(user=carol, slug=room.slug, level="nothing")
    assert listed(carol) == []
    # @room in a reply names every member, follower or not (dave follows nothing).
    everyone = reply(room, bob, root, "@room heads up")
    assert listed(team["dave"]) == [everyone]
    items, _ = missed_items(alice.pk, after_id=0)
    assert items[0].thread_excerpt == "topic"
    assert items[0].url.endswith(f"/chat/{room.slug}/?thread={root}")
    assert not MissedEmailState.objects.exists()


def _seq(message_id: int) -> int:
    return Message.objects.get(pk=message_id).seq


# --- the setting -------------------------------------------------------------------------


def test_the_settings_page_turns_thread_replies_off_and_on(
    team: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    carol = team["carol"]
    seen = intercept(monkeypatch)
    client = Client(enforce_csrf_checks=True)
    client.force_login(carol)

    def save(data: dict[str, str]) -> None:
        token = client.get("/notifications/").context["csrf_token"]
        response = client.post("/notifications/", {**data, "csrfmiddlewaretoken": str(token)})
        assert response.status_code == 302

    page = client.get("/notifications/").content.decode()
    assert "Replies in threads I follow" in page
    assert 'id="thread_replies" aria-describedby="thread-replies-help" checked' in page
    save({"action": "threads"})  # an unchecked box is not sent
    assert selectors.notify_prefs(carol.pk)["thread_replies"] is False
    assert NotifyPrefs.objects.get(user=carol).email_missed is True  # untouched
    assert 'id="thread_replies" aria-describedby="thread-replies-help">' in (
        client.get("/notifications/?saved=threads").content.decode()
    )
    save({"action": "threads", "thread_replies": "on"})
    assert selectors.notify_prefs(carol.pk)["thread_replies"] is True
    # Every open tab and device of hers hears of each change (notify.prefs).
    frames = [json.loads(p.event["frame"]) for p in seen if p.event["type"] == "chat.user_frame"]
    assert [(f["type"], f["thread_replies"]) for f in frames] == [
        ("notify.prefs", False),
        ("notify.prefs", True),
    ]
