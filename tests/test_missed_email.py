"""Missed-messages email (notify/missed.py) over real SMTP (aiosmtpd, started here): one
email for what is still unread when it is due, nothing for what was read, deleted or
may not be read any more, nothing for whom email is off; and a job claimed by a real
`manage.py chat_worker` that is killed before sending is sent once by another worker."""

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message as Email
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from chat import services
from chat.models import Membership, Message, NotifyPrefs, Room
from notify.missed import missed_schedule
from notify.models import MissedEmailState
from tests.jobs import run_due_jobs, start_worker, worker_env
from tests.servers import free_port
from tests.smtp import Inbox, smtp_server

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "https://chat.example.com"
MISSED_JOB = "notify.tasks.missed_emails"


@pytest.fixture
def inbox(settings: Any) -> Iterator[Inbox]:
    """This process sends through a real SMTP server; emails are due at once."""
    with smtp_server() as (received, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "chat@example.com"
        settings.CHAT_SITE_URL = SITE
        settings.CHAT_EMAIL_MISSED_DELAY_SECONDS = 0
        yield received


@pytest.fixture
def people(make_user: Callable[..., User], room: Room) -> tuple[User, User]:
    alice = make_user("alice", email="alice@example.com")
    bob = make_user("bob", email="bob@example.com")
    for user in (alice, bob):
        services.room_join(user=user, slug=room.slug)
    return alice, bob


def post(room: Room, author: User, body: str) -> Message:
    out = services.message_post(room_id=room.pk, author=author, body=body, client_id=body)
    # The message's own notify job (Web Push, then missed_schedule) is push's to test;
    # here the email is scheduled by the test itself, as that job would.
    DBTaskResult.objects.exclude(task_path=MISSED_JOB).delete()
    return Message.objects.get(pk=out["id"])


def parts(mail: Email) -> dict[str, str]:
    found = {}
    for part in mail.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "utf-8")
    return found


def test_three_missed_mentions_make_one_email_listing_each_with_its_link(
    inbox: Inbox, people: tuple[User, User], room: Room
) -> None:
    alice, bob = people
    mentions = [post(room, alice, f"@bob question {n}") for n in (1, 2, 3)]
    post(room, alice, "not for bob")
    for _ in mentions:  # each message's notify job schedules; one email is pending
        missed_schedule([bob.pk])
    jobs = DBTaskResult.objects.filter(task_path=MISSED_JOB)
    assert jobs.count() == 1
    state = MissedEmailState.objects.get(user=bob)
    assert jobs.get().run_after == state.email_due_at

    run_due_jobs()
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert mail["To"] == "bob@example.com"
    assert mail["From"] == "chat@example.com"
    assert mail["Subject"] == "3 unread messages for you in the chat"
    last = mentions[-1].pk
    assert mail["Message-ID"] == f"<missed-{bob.pk}-0-{last}@chat.example.com>"
    body = parts(mail)
    assert set(body) == {"text/plain", "text/html"}
    for message in mentions:
        link = f"{SITE}/chat/general/?seq={message.seq}"
        assert message.body in body["text/plain"]
        assert link in body["text/plain"]
        assert message.body in body["text/html"]
        assert f'href="{link}"' in body["text/html"]
    for text in body.values():
        assert "not for bob" not in text
        assert f"{SITE}/notifications/" in text
    assert "#General" in body["text/plain"]
    assert "alice" in body["text/plain"]
    after = MissedEmailState.objects.get(user=bob)
    assert (after.email_due_at, after.emailed_through) == (None, last)

    # Told once: the same unread mentions never make a second email.
    missed_schedule([bob.pk])
    run_due_jobs()
    assert len(inbox.messages) == 1


def test_the_message_jobs_schedule_one_email_for_names_room_and_direct_messages(
    inbox: Inbox, people: tuple[User, User], room: Room, make_user: Callable[..., User]
) -> None:
    """End to end from the send: each message's own notify job schedules the email."""
    alice, bob = people
    carol = make_user("carol", email="carol@example.com")
    services.room_join(user=carol, slug=room.slug)
    dm = services.dm_open(user=alice, other=bob)
    sent = [
        services.message_post(
            room_id=room.pk, author=alice, body="@room deploy at five", client_id="r"
        ),
        services.message_post(
            room_id=room.pk, author=alice, body="@bob can you watch it?", client_id="n"
        ),
        services.message_post(room_id=dm.pk, author=alice, body="thanks in advance", client_id="d"),
        services.message_post(room_id=room.pk, author=alice, body="plain chatter", client_id="p"),
    ]
    run_due_jobs()  # the notify jobs, then the email jobs they queued (due at once here)
    by_rcpt = {mail["To"]: parts(mail)["text/plain"] for mail in inbox.messages}
    assert set(by_rcpt) == {"bob@example.com", "carol@example.com"}
    for body in ("@room deploy at five", "@bob can you watch it?", "thanks in advance"):
        assert body in by_rcpt["bob@example.com"]
    assert "plain chatter" not in by_rcpt["bob@example.com"]
    assert "@room deploy at five" in by_rcpt["carol@example.com"]
    assert "@bob can you watch it?" not in by_rcpt["carol@example.com"]
    assert len(sent) == 4


def test_a_mention_read_within_the_delay_sends_nothing(
    inbox: Inbox, people: tuple[User, User], room: Room
) -> None:
    alice, bob = people
    message = post(room, alice, "@bob lunch?")
    missed_schedule([bob.pk])
    services.room_read(user=bob, slug=room.slug, seq=message.seq)
    run_due_jobs()
    assert inbox.messages == []
    assert MissedEmailState.objects.get(user=bob).email_due_at is None


def test_a_deleted_mention_sends_nothing(
    inbox: Inbox, people: tuple[User, User], room: Room
) -> None:
    alice, bob = people
    message = post(room, alice, "@bob oops, wrong person")
    missed_schedule([bob.pk])
    services.message_delete(message_id=message.pk, user=alice)
    run_due_jobs()
    assert inbox.messages == []


@pytest.mark.parametrize("why", ["inactive", "no address", "email off"])
def test_no_email_for_whom_it_cannot_or_should_not_reach(
    inbox: Inbox, people: tuple[User, User], room: Room, why: str
) -> None:
    alice, bob = people
    post(room, alice, "@bob are you there?")
    missed_schedule([bob.pk])
    if why == "inactive":
        User.objects.filter(pk=bob.pk).update(is_active=False)
    elif why == "no address":
        User.objects.filter(pk=bob.pk).update(email="")
    else:
        NotifyPrefs.objects.create(user=bob, email_missed=False)
    run_due_jobs()
    assert inbox.messages == []


def test_direct_messages_are_emailed_but_not_a_private_room_left_since(
    inbox: Inbox, people: tuple[User, User], room: Room
) -> None:
    alice, bob = people
    direct = services.dm_open(user=alice, other=bob)
    dm = post(direct, alice, "just between us")
    secret = Room.objects.create(slug="secret", name="Secret", is_private=True)
    Membership.objects.create(room=secret, user=alice)
    Membership.objects.create(room=secret, user=bob)
    post(secret, alice, "@bob the plan")
    missed_schedule([bob.pk])
    Membership.objects.filter(room=secret, user=bob).delete()
    run_due_jobs()
    (mail,) = inbox.messages
    text = parts(mail)["text/plain"]
    assert mail["Subject"] == "1 unread message for you in the chat"
    assert "just between us" in text
    assert f"{SITE}/chat/{direct.slug}/?seq={dm.seq}" in text
    assert "the plan" not in text
    assert "Secret" not in text


def test_a_failed_send_is_retried_later_not_lost(
    inbox: Inbox, people: tuple[User, User], room: Room, settings: Any
) -> None:
    alice, bob = people
    post(room, alice, "@bob ping")
    missed_schedule([bob.pk])
    settings.CHAT_EMAIL_MISSED_DELAY_SECONDS = 600
    settings.EMAIL_PORT = free_port()  # nothing listens there
    run_due_jobs()
    state = MissedEmailState.objects.get(user=bob)
    assert state.email_due_at is not None
    assert state.email_due_at > timezone.now()
    retry = DBTaskResult.objects.filter(task_path=MISSED_JOB, status=TaskResultStatus.READY)
    assert retry.get().run_after == state.email_due_at
    assert retry.get().args_kwargs["kwargs"] == {"user_ids": [bob.pk]}


def test_scheduling_everyone_in_a_big_room_is_a_few_queries(
    inbox: Inbox, django_assert_max_num_queries: Any
) -> None:
    users = User.objects.bulk_create(User(username=f"u{n}") for n in range(500))
    ids = [user.pk for user in users]
    MissedEmailState.objects.create(user_id=ids[0], email_due_at=timezone.now())
    with django_assert_max_num_queries(8):
        missed_schedule(ids)
    (job,) = DBTaskResult.objects.filter(task_path=MISSED_JOB)
    assert job.args_kwargs["kwargs"] == {"user_ids": ids[1:]}  # one was pending already


# --- a worker killed after claiming the job, before sending -----------------------------


class GreetingGate:
    """A TCP front of the SMTP server: the first connection is held silent (no greeting,
    so the worker is stuck before sending anything), later ones are relayed. The test
    knows the job is claimed and its worker mid-job when that first connection comes."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.first_arrived = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(conn)
            if not self.first_arrived.is_set():
                self.first_arrived.set()  # held: never relayed, never answered
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            self.sockets.append(upstream)
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            sock.close()


def wait_for(check: Callable[[], bool], what: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text(errors='replace')}"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_job_of_a_killed_worker_is_sent_once_by_another_after_the_lease(
    inbox: Inbox, people: tuple[User, User], room: Room, settings: Any, tmp_path: Path
) -> None:
    alice, bob = people
    mentions = [post(room, alice, f"@bob urgent {n}") for n in (1, 2, 3)]
    missed_schedule([bob.pk])
    job = DBTaskResult.objects.get(task_path=MISSED_JOB)
    gate = GreetingGate(settings.EMAIL_PORT)
    log = tmp_path / "workers.log"
    env = worker_env(
        settings.SECRET_KEY,
        EMAIL_URL=f"smtp://127.0.0.1:{gate.port}",
        DEFAULT_FROM_EMAIL="chat@example.com",
        CHAT_SITE_URL=SITE,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        first = start_worker(env, log)
        workers.append(first)
        wait_for(gate.first_arrived.is_set, "the first worker connects to send", log)
        job.refresh_from_db()
        assert job.status == TaskResultStatus.RUNNING
        assert f"-{first.pid}-" in job.worker_ids[-1]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert inbox.messages == []

        second = start_worker(env, log)
        workers.append(second)
        wait_for(lambda: inbox.arrived.is_set(), "the second worker sends", log)
        wait_for(
            lambda: DBTaskResult.objects.get(pk=job.pk).status == TaskResultStatus.SUCCESSFUL,
            "the job is done",
            log,
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, log.read_text()
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        gate.close()
    job.refresh_from_db()
    assert len(job.worker_ids) == 2
    assert f"-{second.pid}-" in job.worker_ids[1]
    assert len(inbox.messages) == 1
    text = parts(inbox.messages[0])["text/plain"]
    assert all(message.body in text for message in mentions)
    state = MissedEmailState.objects.get(user=bob)
    assert (state.email_due_at, state.emailed_through) == (None, mentions[-1].pk)
    assert "handed back" in log.read_text()
