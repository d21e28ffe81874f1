"""Outgoing webhooks end to end, with a real HTTP receiver on 127.0.0.1: triggers, the
signed request, the bot's answer (in the thread when asked), retries with the same
X-Chat-Delivery, redirects not followed, switching a failing hook off, the kept
Room.outgoing_hooks count, the SSRF rule (chat/ops/egress.py), the management command,
and a SIGKILLed `manage.py chat_worker` whose delivery another worker retries."""

import hashlib
import hmac
import io
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from chat import services
from chat.models import Message, Room
from integrations import deliveries
from integrations.models import Delivery, OutgoingWebhook
from integrations.outgoing import (
    HookSettings,
    outgoing_create,
    outgoing_delete,
    outgoing_enable,
)
from tests.hook_receiver import Receiver, Reply, hook_receiver
from tests.jobs import run_due_jobs, start_worker, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.CHAT_WEBHOOK_ALLOW_HOSTS = ["127.0.0.1"]
    settings.CHAT_WEBHOOK_RETRY_SECONDS = [0, 0, 0]
    with hook_receiver() as found:
        yield found


@pytest.fixture
def owner(make_user: Callable[..., User], room: Room) -> User:
    user = make_user("olga")
    room.created_by = user
    room.save(update_fields=["created_by"])
    services.room_join(user=user, slug=room.slug)
    return user


@pytest.fixture
def alice(make_user: Callable[..., User], room: Room) -> User:
    user = make_user("alice")
    services.room_join(user=user, slug=room.slug)
    return user


def hook_make(room: Room, owner: User, url: str, **wanted: Any) -> tuple[OutgoingWebhook, str]:
    return outgoing_create(
        room=room, name="Deploy", wanted=HookSettings(url=url, **wanted), actor=owner
    )


def say(room: Room, author: User, body: str, **extra: Any) -> Message:
    out = services.message_post_one(
        services.SendRequest(
            room_id=room.pk, author=author, body=body, client_id=uuid.uuid4().hex, **extra
        )
    )
    return Message.objects.get(pk=out["id"])


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def test_a_hook_on_a_refused_address_cannot_be_created(owner: User, room: Room) -> None:
    from chat.errors import ChatError

    with pytest.raises(ChatError, match="loopback"):
        hook_make(room, owner, "http://127.0.0.1:9/x", on_all=True)
    assert not OutgoingWebhook.objects.exists()


# --- Room.outgoing_hooks ---------------------------------------------------------------


def hooks_of(room: Room) -> int:
    return Room.objects.get(pk=room.pk).outgoing_hooks


def test_room_count_follows_hooks_and_direct_conversations_with_their_bots(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    first, _ = hook_make(room, owner, receiver.url, on_all=True)
    second, _ = hook_make(room, owner, receiver.url, triggers=("x",))
    assert hooks_of(room) == 2
    dm = services.dm_open(user=alice, other=first.bot)
    assert hooks_of(dm) == 1
    outgoing_enable(hook=first, enabled=False, reason="test")
    assert (hooks_of(room), hooks_of(dm)) == (1, 0)
    outgoing_enable(hook=first, enabled=True)
    assert (hooks_of(room), hooks_of(dm)) == (2, 1)
    outgoing_delete(hook=second)
    outgoing_delete(hook=first)
    assert (hooks_of(room), hooks_of(dm)) == (0, 0)
    assert not User.objects.get(pk=first.bot_id).is_active


def test_deleting_a_hooks_bot_recounts_its_room_and_direct_conversations(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, _ = hook_make(room, owner, receiver.url, on_all=True)
    dm = services.dm_open(user=alice, other=hook.bot)
    assert (hooks_of(room), hooks_of(dm)) == (1, 1)
    User.objects.filter(pk=hook.bot_id).delete()  # cascades to the hook
    assert not OutgoingWebhook.objects.exists()
    assert (hooks_of(room), hooks_of(dm)) == (0, 0)


# --- deliveries ------------------------------------------------------------------------


def test_a_trigger_word_sends_a_signed_request_and_the_answer_is_posted_in_the_thread(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, secret = hook_make(room, owner, receiver.url, triggers=("!deploy",))
    receiver.replies = [Reply(200, {"text": "Deploying *web*", "thread": True, "username": "CI"})]
    say(room, alice, "just talking")
    asked = say(room, alice, "!deploy web")
    run_due_jobs()
    (request,) = receiver.wait(1)
    timestamp = request.headers["X-Chat-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    assert request.headers["X-Chat-Signature"] == expected_signature(
        secret, timestamp, request.body
    )
    assert request.headers["Content-Type"] == "application/json"
    payload = request.json()
    assert payload["token"] == str(hook.pk)
    assert (payload["room"], payload["trigger_word"], payload["user_name"]) == (
        "general",
        "!deploy",
        "alice",
    )
    assert (payload["message"]["id"], payload["message"]["body"]) == (asked.pk, "!deploy web")
    delivery = Delivery.objects.get()
    assert request.headers["X-Chat-Delivery"] == str(delivery.delivery_id)
    assert (delivery.state, delivery.status, delivery.attempts) == ("ok", 200, 1)
    assert delivery.latency_ms is not None
    answer = Message.objects.get(author=hook.bot)
    assert answer.thread_id == asked.pk
    assert "<strong>web</strong>" in answer.html
    assert answer.as_name == "CI"
    # The bot's answer triggers nothing (the hook answers only people).
    run_due_jobs()
    assert len(receiver.requests) == 1


def test_planning_the_same_messages_twice_delivers_once(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook_make(room, owner, receiver.url, on_all=True)
    message = say(room, alice, "once")
    # The queued job's work, run by hand before it and again: made once, queued once.
    assert deliveries.deliveries_plan([message.pk]) == 1
    assert deliveries.deliveries_plan([message.pk]) == 0
    run_due_jobs()
    assert Delivery.objects.count() == 1
    assert len(receiver.wait(1)) == 1


def test_slack_fields_in_an_answer_are_posted_and_bad_answers_are_recorded(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, _ = hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [
        Reply(200, {"attachments": [{"fallback": "build 7", "title": "Build 7", "color": "good"}]}),
        Reply(200, {"text": 5}),
        Reply(200),  # an empty acknowledgement
    ]
    for body in ("one", "two", "three"):
        say(room, alice, body)
        run_due_jobs()
    (card,) = Message.objects.filter(author=hook.bot)
    assert '<div class="card"' in card.html
    assert "Build 7" in card.body  # the plain-text fallback search reads
    by_body = {d.message.body: d for d in Delivery.objects.select_related("message") if d.message}
    assert by_body["two"].state == "ok"
    assert by_body["two"].error.startswith("answer not posted")
    assert (by_body["three"].state, by_body["three"].error) == ("ok", "")


def test_mentions_and_direct_messages_trigger_and_bots_never_do(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, _ = hook_make(room, owner, receiver.url, on_mention=True)
    bot_name = hook.bot.get_username()
    say(room, alice, f"hello @{bot_name}")
    say(room, alice, "hello nobody")
    dm = services.dm_open(user=alice, other=hook.bot)
    say(dm, alice, "in private")
    say(dm, hook.bot, "a bot talking")
    run_due_jobs()
    requests = receiver.wait(2)
    time.sleep(0.2)
    assert sorted(r.json()["message"]["body"] for r in requests) == [
        f"hello @{bot_name}",
        "in private",
    ]
    assert {r.json()["trigger_word"] for r in requests} == {None}


def test_server_errors_are_retried_with_the_same_delivery_id(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [Reply(500), Reply(503), Reply(200, {"text": "third time"})]
    say(room, alice, "hi")
    for _ in range(4):
        run_due_jobs()
    requests = receiver.wait(3)
    assert len({r.headers["X-Chat-Delivery"] for r in requests}) == 1
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.status) == ("ok", 3, 200)
    assert Message.objects.filter(body="third time").count() == 1


def test_four_failed_tries_fail_the_delivery(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, _ = hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [Reply(502)]
    say(room, alice, "hi")
    for _ in range(6):
        run_due_jobs()
    assert len(receiver.requests) == 4  # the first try and 3 retries
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.status) == ("failed", 4, 502)
    assert OutgoingWebhook.objects.get(pk=hook.pk).failures_in_row == 1


def test_a_timeout_is_retried(
    receiver: Receiver, owner: User, alice: User, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliveries, "TIMEOUT_SECONDS", 0.5)  # the 5 s rule, shorter
    hook, _ = hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [Reply(200, {"text": "late"}, delay=2), Reply(200, {"text": "on time"})]
    say(room, alice, "hi")
    run_due_jobs()
    run_due_jobs()
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("ok", 2)
    assert list(Message.objects.filter(author=hook.bot).values_list("body", flat=True)) == [
        "on time"
    ]


def test_redirects_are_not_followed(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [
        Reply(302, headers={"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"})
    ]
    say(room, alice, "hi")
    run_due_jobs()
    run_due_jobs()
    assert [r.path for r in receiver.requests] == ["/hook"]
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.status, delivery.error) == (
        "failed",
        302,
        "redirect not followed",
    )


def test_ten_failures_in_a_row_switch_the_hook_off_and_tell_its_owner(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, _ = hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [Reply(404)]  # refused: not retried, each delivery fails at once
    for n in range(10):
        say(room, alice, f"message {n}")
        run_due_jobs()
    hook.refresh_from_db()
    assert not hook.enabled
    assert hook.failures_in_row == 10
    assert "10 deliveries failed in a row" in hook.disabled_reason
    assert hooks_of(room) == 0
    told = Message.objects.get(room__is_direct=True, kind=Message.Kind.SYSTEM)
    assert told.room.memberships.filter(user=owner).exists()
    assert '"Deploy"' in told.body
    assert "switched off" in told.body
    say(room, alice, "after")
    run_due_jobs()
    assert len(receiver.requests) == 10


def test_a_success_starts_the_failure_count_again(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, _ = hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [Reply(404)] * 9 + [Reply(200)] + [Reply(404)]
    for n in range(11):
        say(room, alice, f"message {n}")
        run_due_jobs()
    hook.refresh_from_db()
    assert hook.enabled
    assert hook.failures_in_row == 1


def test_only_the_last_50_deliveries_are_kept(
    receiver: Receiver, owner: User, alice: User, room: Room
) -> None:
    hook, _ = hook_make(room, owner, receiver.url, on_all=True)
    Delivery.objects.bulk_create(
        Delivery(hook=hook, delivery_id=uuid.uuid4(), state="ok") for _ in range(60)
    )
    say(room, alice, "the newest")
    run_due_jobs()
    assert Delivery.objects.filter(hook=hook).count() == 50
    assert Delivery.objects.filter(hook=hook, message__body="the newest").exists()


def test_the_command_prints_the_secret_alone(receiver: Receiver, owner: User, room: Room) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "webhook",
        "create-outgoing",
        "--room", "general",
        "--url", receiver.url,
        "--trigger", "!a", "!b",
        "--trigger", "!c",
        "--mention",
        stdout=out,
        stderr=err,
    )  # fmt: skip
    hook = OutgoingWebhook.objects.get()
    assert out.getvalue() == hook.secret + "\n"
    assert (hook.triggers, hook.on_mention, hook.on_all) == (["!a", "!b", "!c"], True, False)
    assert hook.created_by == owner
    assert hooks_of(room) == 1


# --- a killed worker -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_sigkilled_workers_delivery_is_retried_with_the_same_delivery_id(
    receiver: Receiver, owner: User, alice: User, room: Room, settings: Any, tmp_path: Path
) -> None:
    hook_make(room, owner, receiver.url, on_all=True)
    receiver.replies = [Reply(hold=True), Reply(200, {"text": "got it"})]
    say(room, alice, "deliver me")
    log = tmp_path / "workers.log"
    env = worker_env(
        settings.SECRET_KEY,
        CHAT_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        CHAT_WEBHOOK_RETRY_SECONDS="0,0,0",
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        first = start_worker(env, log)
        workers.append(first)
        receiver.wait(1, seconds=60)  # the first worker is inside the request: kill it
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_worker(env, log)
        workers.append(second)
        requests = receiver.wait(2, seconds=60)
        deadline = time.monotonic() + 30
        while Delivery.objects.get().state != "ok":
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(10)
                except subprocess.TimeoutExpired:
                    worker.kill()
    assert requests[0].headers["X-Chat-Delivery"] == requests[1].headers["X-Chat-Delivery"]
    assert requests[0].body == requests[1].body
    assert Message.objects.filter(body="got it").count() == 1
    assert Delivery.objects.get().attempts == 2


# --- the integrations page's outgoing section ------------------------------------------


def test_the_owner_creates_a_hook_and_sees_its_deliveries_on_the_page(
    receiver: Receiver, make_user: Callable[..., User], alice: User, room: Room
) -> None:
    from django.test import Client

    owner = make_user("olga", password="pw-olga-1234")
    room.is_private, room.created_by = True, owner
    room.save(update_fields=["is_private", "created_by"])
    services.membership_add(room=room, user=owner, actor=owner)
    services.membership_add(room=room, user=alice, actor=owner)
    page = Client()
    page.force_login(owner)
    url = "/chat/general/integrations/outgoing/"
    created = page.post(
        url,
        {"action": "create", "name": "Deploy", "url": receiver.url, "triggers": "!deploy !ship"},
    )
    hook = OutgoingWebhook.objects.get()
    assert created.status_code == 200
    assert hook.secret in created.content.decode()  # shown once, on this response
    assert hook.triggers == ["!deploy", "!ship"]
    receiver.replies = [Reply(500), Reply(200)]
    say(room, alice, "!ship it")
    run_due_jobs()
    run_due_jobs()
    listed = page.get(url).content.decode()
    assert hook.secret not in listed
    assert "ok (200), 2 tries" in listed
    assert " ms</td>" in listed
    refused = page.post(url, {"action": "create", "name": "x", "url": "http://10.0.0.1/x"})
    assert "private address" in refused.content.decode()
    page.post(url, {"action": "disable", "hook": hook.pk})
    assert not OutgoingWebhook.objects.get().enabled
    assert "switched off by olga" in page.get(url).content.decode()
    # A member who does not own the private room sees nothing of it.
    other = Client()
    other.force_login(alice)
    assert other.get(url).status_code == 404


def test_staff_make_an_outgoing_hook_in_the_admin(
    receiver: Receiver, make_user: Callable[..., User], room: Room
) -> None:
    from django.test import Client

    admin = Client()
    admin.force_login(make_user("sam", is_staff=True, is_superuser=True))
    add = "/admin/integrations/outgoingwebhook/add/"
    form = {"name": "Deploys", "room": room.pk, "trigger_words": "!deploy !status"}
    refused = admin.post(add, {**form, "url": "http://10.0.0.1/hook"})
    assert refused.status_code == 200  # the form again, with why
    assert "10.0.0.1 is a private address" in refused.content.decode()
    assert not OutgoingWebhook.objects.exists()

    made = admin.post(add, {**form, "url": receiver.url, "on_mention": "on"})
    hook = OutgoingWebhook.objects.get()
    assert hook.secret in made.content.decode()  # shown once, on this answer
    assert (hook.triggers, hook.on_mention, hook.on_all) == (["!deploy", "!status"], True, False)
    assert hook.bot.profile.is_bot
    assert Room.objects.get(pk=room.pk).outgoing_hooks == 1
