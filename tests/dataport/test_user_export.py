"""A person's own export (/accounts/export/) end to end: asked for on the page, built by
the job runner, the link emailed over real SMTP (aiosmtpd) and downloaded by its owner
only; the zip holds exactly that person's data (a private room they are not in never
appears, not even its name); one request a day; expired files deleted by the periodic
purge; each request and download in the audit log as data.export."""

import io
import json
import re
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from accounts.models import DataExport
from chat import services
from chat.models import Attachment, AuditLog, Membership, NotifyPrefs, Room
from chat.services.posting import SendRequest, message_post_one
from dataport import userexport, userexport_jobs
from notify import runner
from tests.jobs import run_due_jobs, start_worker, worker_env
from tests.smtp import Inbox, smtp_server

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "https://chat.example.com"
# Anything of these in alice's zip is someone else's data.
FORBIDDEN = [
    "secret-plans",
    "Secret plans",
    "the launch is on friday",
    "old-club",
    "Old club",
    "what alice said in the old club",
    "carol",
    "bob's own words",
    "BOBFILE",
]


@pytest.fixture
def inbox(settings: Any, tmp_path: Path) -> Iterator[Inbox]:
    with smtp_server() as (received, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "chat@example.com"
        settings.CHAT_SITE_URL = SITE
        settings.MEDIA_ROOT = str(tmp_path / "media")
        yield received


def post(room: Room, user: User, body: str, **extra: Any) -> int:
    out = message_post_one(
        SendRequest(room_id=room.pk, author=user, body=body, client_id=body[:60], **extra)
    )
    return out["id"]


def attach(message_id: int, name: str, content: bytes) -> None:
    stored = default_storage.save(f"uploads/{name}", ContentFile(content))
    Attachment.objects.create(
        message_id=message_id,
        kind="file",
        file=stored,
        name=name,
        content_type="text/plain",
        size=len(content),
    )


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(make_user: Callable[..., User], inbox: Inbox) -> dict[str, User]:
    """alice and bob share a public room and a DM; bob and carol share a private room
    alice was never in; alice posted in a private room she has left since."""
    alice = make_user("alice", email="alice@example.com")
    bob = make_user("bob", email="bob@example.com")
    carol = make_user("carol", email="carol@example.com")
    general = services.room_create(slug="general", name="General", topic="", creator=alice)
    services.room_join(user=bob, slug="general")
    secret = services.room_create(
        slug="secret-plans", name="Secret plans", topic="", creator=bob, is_private=True
    )
    Membership.objects.create(room=secret, user=carol, last_read_seq=0)
    old = services.room_create(
        slug="old-club", name="Old club", topic="", creator=alice, is_private=True
    )
    services.room_join(user=bob, slug="general")
    dm = services.dm_open(user=alice, other=bob)

    bobs = post(general, bob, "bob's own words")
    attach(bobs, "bob.txt", b"BOBFILE")
    question = post(general, alice, "first draft of alice's question", reply_to=bobs)
    services.message_edit(message_id=question, user=alice, body="alice's question, edited")
    post(general, alice, "alice answers in the thread", thread=bobs)
    with_file = post(general, alice, "alice's notes attached")
    attach(with_file, "notes.txt", "ALICEFILE, ünïcode".encode())
    post(dm, alice, "alice to bob, privately")
    gone = post(general, alice, "alice deleted this")
    services.message_delete(message_id=gone, user=alice)
    services.reaction_set(message_id=bobs, user=alice, emoji_text="👍", added=True)

    launch = post(secret, bob, "the launch is on friday")
    services.reaction_set(message_id=launch, user=carol, emoji_text="👍", added=True)
    club = post(old, alice, "what alice said in the old club")
    services.reaction_set(message_id=club, user=alice, emoji_text="🎉", added=True)
    Membership.objects.filter(room=old, user=alice).delete()  # she left it
    NotifyPrefs.objects.create(user=alice, email_missed=False)
    return {"alice": alice, "bob": bob, "carol": carol}


def export_zip(user: User, inbox: Inbox) -> tuple[zipfile.ZipFile, str]:
    """Ask on the page, run the job, follow the emailed link: the zip and the link."""
    client = client_of(user)
    response = client.post("/accounts/export/")
    assert response.status_code == 302
    assert "export-pending" in client.get("/accounts/export/").content.decode()
    run_due_jobs()
    assert inbox.arrived.wait(10)
    (mail,) = inbox.messages
    assert mail["To"] == user.email
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = re.search(rf"{SITE}(/accounts/export/[^/\s]+/download/)", body)
    assert match, body
    link = match.group(1)
    assert link in client.get("/accounts/export/").content.decode()  # on the page too
    response = client.get(link)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return zipfile.ZipFile(io.BytesIO(content)), link


def jsonl(zf: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in zf.read(name).decode().splitlines()]


def test_the_export_holds_exactly_that_persons_data(world: dict[str, User], inbox: Inbox) -> None:
    zf, _ = export_zip(world["alice"], inbox)

    for name in zf.namelist():  # not a trace of what she may not read, in any file
        text = zf.read(name).decode("utf-8", "replace")
        for word in FORBIDDEN:
            assert word not in text, (word, name)

    profile = json.loads(zf.read("profile.json"))
    assert (profile["username"], profile["email"]) == ("alice", "alice@example.com")

    messages = jsonl(zf, "messages.jsonl")
    assert [(m["room"]["name"], m["body"]) for m in messages] == [
        ("General", "alice's question, edited"),
        ("General", "alice answers in the thread"),
        ("General", "alice's notes attached"),
        ("alice & bob", "alice to bob, privately"),
    ]
    question, reply, notes, _ = messages
    assert question["edits"][0]["body"] == "first draft of alice's question"
    assert question["reply_to_seq"] == 1
    assert reply["thread_root_seq"] == 1
    assert all(m["created_at"] for m in messages)
    assert zf.read(notes["file"]["path"]).decode() == "ALICEFILE, ünïcode"
    assert [n for n in zf.namelist() if n.startswith("files/")] == [notes["file"]["path"]]

    reactions = jsonl(zf, "reactions.jsonl")
    assert [(r["room"]["slug"], r["seq"], r["emoji"]) for r in reactions] == [("general", 1, "👍")]
    memberships = json.loads(zf.read("memberships.json"))
    slugs = sorted(m["room"]["slug"] for m in memberships)
    theirs = Membership.objects.filter(user=world["alice"]).values_list("room__slug", flat=True)
    assert slugs == sorted(theirs)  # the default room (lobby), general and the DM
    # (lobby too, unless an earlier transactional test flushed the migration-made row)
    assert {"general", Room.objects.get(is_direct=True).slug} <= set(slugs)
    assert all(m["last_read_seq"] <= m["room_last_seq"] for m in memberships)
    threads = jsonl(zf, "threads.jsonl")
    assert [(t["room"]["slug"], t["root_seq"]) for t in threads] == [("general", 1)]
    notify = json.loads(zf.read("notification_settings.json"))
    assert notify["email_missed"] is False
    manifest = json.loads(zf.read("manifest.json"))
    assert (manifest["messages"], manifest["files"], manifest["reactions"]) == (4, 1, 1)


def test_only_the_owner_downloads_and_the_purge_deletes_it_once_expired(
    world: dict[str, User], inbox: Inbox, settings: Any
) -> None:
    alice, bob = world["alice"], world["bob"]
    _, link = export_zip(alice, inbox)
    assert client_of(bob).get(link).status_code == 404
    assert client_of(alice).get(link.replace("/download/", "x/download/")).status_code == 404
    assert Client().get(link).status_code == 302  # to the log-in page
    export = DataExport.objects.get(user=alice)
    assert export.expires_at is not None
    assert timedelta(days=6, hours=23) < export.expires_at - timezone.now() <= timedelta(days=7)
    path = userexport.export_path(export)
    assert path.is_file()
    assert path.is_relative_to(Path(settings.MEDIA_ROOT) / "private")

    # Not expired yet: the purge keeps it.
    userexport_jobs.user_exports_purge_job.enqueue()
    run_due_jobs()
    assert path.is_file()
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now())
    assert client_of(alice).get(link).status_code == 404  # expired: gone for her too
    userexport_jobs.user_exports_purge_job.enqueue()
    run_due_jobs()
    assert not path.exists()
    assert DataExport.objects.get(pk=export.pk).status == DataExport.Status.EXPIRED
    assert "export-expired" in client_of(alice).get("/accounts/export/").content.decode()

    audit = AuditLog.objects.filter(action="data.export", target_user=alice)
    assert sorted(audit.values_list("reason", flat=True)) == ["downloaded", "requested"]
    assert {entry.actor for entry in audit} == {alice}


def test_one_request_a_day(world: dict[str, User], inbox: Inbox) -> None:
    alice = world["alice"]
    client = client_of(alice)
    assert client.post("/accounts/export/").status_code == 302
    again = client.post("/accounts/export/")
    assert again.status_code == 429
    assert "export-too-soon" in again.content.decode()
    assert DataExport.objects.filter(user=alice).count() == 1
    assert (
        DBTaskResult.objects.filter(task_path=userexport_jobs.user_export_job.module_path).count()
        == 1
    )
    DataExport.objects.filter(user=alice).update(
        requested_at=timezone.now() - timedelta(hours=24, minutes=1)
    )
    assert client.post("/accounts/export/").status_code == 302
    assert DataExport.objects.filter(user=alice).count() == 2


def test_the_request_needs_a_csrf_token(world: dict[str, User]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["alice"])
    assert client.post("/accounts/export/").status_code == 403
    assert not DataExport.objects.exists()
    page = client.get("/accounts/settings/").content.decode()
    assert 'href="/accounts/export/"' in page


def test_every_runner_keeps_one_purge_queued() -> None:
    assert userexport_jobs.user_exports_purge_ensure in runner.periodic
    assert userexport_jobs.user_exports_purge_ensure() is True
    assert userexport_jobs.user_exports_purge_ensure() is False
    (job,) = DBTaskResult.objects.filter(task_path=userexport_jobs.PURGE_TASK_PATH)
    assert job.status == TaskResultStatus.READY
    assert job.run_after is not None
    assert job.run_after > timezone.now()


def test_erasing_a_person_can_delete_their_exports_at_once(
    world: dict[str, User], inbox: Inbox
) -> None:
    alice = world["alice"]
    export_zip(alice, inbox)
    path = userexport.export_path(DataExport.objects.get(user=alice))
    assert userexport.exports_delete(alice) == 1
    assert not path.exists()
    assert DataExport.objects.get(user=alice).status == DataExport.Status.EXPIRED


def test_a_failed_build_says_so_and_does_not_count_against_the_day(
    world: dict[str, User], inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(userexport, "export_write", broken)
    client = client_of(world["alice"])
    assert client.post("/accounts/export/").status_code == 302
    run_due_jobs()
    assert DataExport.objects.get().status == DataExport.Status.FAILED
    assert "export-failed" in client.get("/accounts/export/").content.decode()
    assert list(userexport.exports_dir().glob("*")) == []  # no half-written file left
    assert client.post("/accounts/export/").status_code == 302  # may ask again at once
    assert inbox.messages == []


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_real_runner_builds_and_emails_it_and_keeps_the_purge_queued(
    world: dict[str, User], inbox: Inbox, settings: Any, tmp_path: Path
) -> None:
    alice = world["alice"]
    log = tmp_path / "worker.log"
    env = worker_env(
        settings.SECRET_KEY,
        EMAIL_URL=f"smtp://127.0.0.1:{settings.EMAIL_PORT}",
        DEFAULT_FROM_EMAIL="chat@example.com",
        CHAT_SITE_URL=SITE,
        DJANGO_MEDIA_ROOT=settings.MEDIA_ROOT,
    )
    assert client_of(alice).post("/accounts/export/").status_code == 302
    worker = start_worker(env, log)
    try:
        deadline = time.monotonic() + 60
        while not (
            inbox.arrived.is_set()
            and DBTaskResult.objects.filter(task_path=userexport_jobs.PURGE_TASK_PATH).exists()
        ):
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            assert worker.poll() is None, log.read_text(errors="replace")
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
    export = DataExport.objects.get(user=alice)
    assert export.status == DataExport.Status.READY
    body = inbox.messages[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert f"{SITE}/accounts/export/{export.key}/download/" in body
    with zipfile.ZipFile(userexport.export_path(export)) as zf:
        assert json.loads(zf.read("manifest.json"))["messages"] == 4
