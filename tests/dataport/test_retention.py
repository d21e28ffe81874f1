"""Retention (#27): the daily run deletes a room's older messages with their files,
reactions, mentions, edits and search rows, keeps unread and thread counts exact,
records its counts in the audit log, and the room's owner may only shorten the span."""

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from chat import selectors, services
from chat.models import (
    Attachment,
    AuditLog,
    Mention,
    Message,
    MessageEdit,
    Reaction,
    Room,
    Thread,
    ThreadFollow,
)
from chat.search.query import search_parse
from chat.selectors.threads import thread_states
from dataport import retention, retention_jobs

pytestmark = pytest.mark.django_db(transaction=True)

OLD = timedelta(days=40)


def post(room: Room, user: User, body: str, thread: int | None = None) -> dict[str, Any]:
    from chat.services.posting import SendRequest, message_post_one

    return dict(message_post_one(SendRequest(room.pk, user, body, body, thread=thread)))


def age(*messages: dict[str, Any], by: timedelta = OLD) -> None:
    ids = [m["id"] for m in messages]
    Message.objects.filter(pk__in=ids).update(created_at=timezone.now() - by)


@pytest.fixture
def people(make_user: Callable[..., User]) -> tuple[User, User]:
    return make_user("alice"), make_user("bob")


@pytest.fixture
def ops(people: tuple[User, User]) -> Room:
    alice, bob = people
    room = Room.objects.create(slug="ops", name="Ops", created_by=alice)
    for user in (alice, bob):
        services.room_join(user=user, slug="ops")
    return room


def test_run_deletes_old_messages_with_everything_hanging_from_them(
    ops: Room, people: tuple[User, User], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.CHAT_RETENTION_DAYS = 30
    alice, bob = people
    old = post(ops, alice, "zebrafish plan @bob")
    services.reaction_set(message_id=old["id"], user=bob, emoji_text="👍", added=True)
    services.message_edit(message_id=old["id"], user=alice, body="zebrafish plans @bob")
    stored = default_storage.save("attachments/x.txt", ContentFile(b"old file"))
    with_file = post(ops, alice, "a file")
    Attachment.objects.create(
        message_id=with_file["id"], kind="file", file=stored, name="x.txt",
        content_type="text/plain", size=8,
    )  # fmt: skip
    gone_root = post(ops, bob, "old thread")
    gone_reply = post(ops, alice, "old reply", thread=gone_root["id"])
    living_root = post(ops, alice, "living thread")
    old_reply = post(ops, bob, "old reply in a living thread", thread=living_root["id"])
    age(old, with_file, gone_root, gone_reply, living_root, old_reply)
    new_reply = post(ops, bob, "new reply", thread=living_root["id"])
    kept = post(ops, bob, "kept @alice")
    # Alice has read nothing: everything by bob counts, and her mention.
    before = selectors.read_states(room_id=ops.pk, user_ids=[alice.pk])[alice.pk]
    assert (before["unread"], before["mentions"]) == (2, 1)  # gone_root and kept, by bob

    report = retention.retention_run()

    left = list(Message.objects.filter(room=ops).order_by("seq").values_list("pk", flat=True))
    assert left == [living_root["id"], new_reply["id"], kept["id"]]
    emptied = Message.objects.get(pk=living_root["id"])
    assert (emptied.body, emptied.html, emptied.deleted_at is not None) == ("", "", True)
    assert (report.messages, report.emptied_roots, report.rooms) == (5, 1, 1)
    assert (report.files, report.reactions, report.edits) == (1, 1, 1)
    assert report.mentions == 1  # the @bob of the old message
    gone = [old["id"], with_file["id"], gone_root["id"], gone_reply["id"], old_reply["id"]]
    for model in (Reaction, Mention, MessageEdit, Attachment):
        assert not model.objects.filter(message_id__in=gone).exists(), model
    assert not default_storage.exists(stored)
    assert not Thread.objects.filter(root_id=gone_root["id"]).exists()
    assert not ThreadFollow.objects.filter(thread_id=gone_root["id"]).exists()
    # Counts exact: the living thread has its one kept reply; alice's unread is bob's kept.
    thread = Thread.objects.get(root_id=living_root["id"])
    assert (thread.replies, thread.last_seq) == (1, new_reply["seq"])
    state = thread_states(root_ids=[living_root["id"]], user_ids=[alice.pk])
    assert state[(alice.pk, living_root["id"])]["unread"] == 1
    after = selectors.read_states(room_id=ops.pk, user_ids=[alice.pk])[alice.pk]
    assert (after["unread"], after["mentions"]) == (1, 1)
    # Search forgets them, and the history starts at the oldest kept message.
    found = selectors.message_search(user_id=bob.pk, query=search_parse("zebrafish"))
    assert found["results"] == []
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM chat_message_fts WHERE body MATCH 'zebrafish'")
            assert cursor.fetchone() == (0,)
    page = services.history_page(room_id=ops.pk, user=bob, before=None, limit=50)
    assert [m["id"] for m in page if not m.get("deleted")] == [kept["id"]]
    # One audit entry with the counts.
    entry = AuditLog.objects.get(action=retention.AUDIT_ACTION)
    assert "messages=5" in entry.reason
    assert "files=1" in entry.reason

    # A second run finds nothing more to do (idempotent), and records that it ran.
    again = retention.retention_run()
    assert (again.messages, again.emptied_roots) == (0, 0)
    assert AuditLog.objects.filter(action=retention.AUDIT_ACTION).count() == 2


def test_a_room_span_overrides_the_site_and_forever_is_the_default(
    ops: Room, people: tuple[User, User], settings: Any
) -> None:
    alice, _ = people
    other = Room.objects.create(slug="other", name="Other")
    services.room_join(user=alice, slug="other")
    age(post(ops, alice, "in ops"), post(other, alice, "in other"), by=timedelta(days=10))
    settings.CHAT_RETENTION_DAYS = None
    assert retention.retention_run().messages == 0  # keep forever
    assert not retention_jobs.retention_on()
    Room.objects.filter(pk=ops.pk).update(retention_days=7)
    assert retention_jobs.retention_on()
    out = io.StringIO()
    call_command("retention_run", "--batch", "2", stdout=out)
    assert "messages=1" in out.getvalue()
    assert "ops: 1" in out.getvalue()
    assert Message.objects.filter(room=other).count() == 1
    # The site's span, longer than ten days, keeps the other room's message.
    settings.CHAT_RETENTION_DAYS = 30
    assert retention.retention_run().messages == 0


def test_the_job_is_queued_for_midnight_once(ops: Room, settings: Any) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.CHAT_RETENTION_DAYS = None
    assert retention_jobs.retention_ensure() is False  # off: nothing queued
    settings.CHAT_RETENTION_DAYS = 30
    assert retention_jobs.retention_ensure() is True
    assert retention_jobs.retention_ensure() is False  # one is waiting
    job = DBTaskResult.objects.get(task_path=retention_jobs.TASK_PATH)
    assert job.run_after is not None
    assert (job.run_after.hour, job.run_after.minute) == (0, 0)
    # The job runs once a day: a second one (a racing runner's) finds the first's entry.
    retention_jobs.retention_job.call()
    retention_jobs.retention_job.call()
    [entry] = AuditLog.objects.filter(action=retention.AUDIT_ACTION)
    assert entry.reason.startswith("daily job: rooms=0 messages=0")


def test_owner_may_only_shorten_the_span_and_staff_may_set_any(
    ops: Room, people: tuple[User, User], make_user: Callable[..., User], settings: Any
) -> None:
    settings.CHAT_RETENTION_DAYS = 90
    alice, bob = people
    owner, member = Client(), Client()
    owner.force_login(alice)
    member.force_login(bob)
    url = "/chat/ops/settings/"
    assert member.get(url).status_code == 404  # not the owner
    refused = owner.post(url, {"retention_days": "365"})
    assert b"less than 90 days" in refused.content
    assert owner.post(url, {"retention_days": "30"}).status_code == 302
    ops.refresh_from_db()
    assert ops.retention_days == 30
    staff = Client()
    staff.force_login(make_user("root", is_staff=True))
    assert staff.post(url, {"retention_days": "3650"}).status_code == 302
    ops.refresh_from_db()
    assert ops.retention_days == 3650
    # Staff chose a longer span: the owner cannot undo it.
    assert b"Staff chose" in owner.post(url, {"retention_days": "10"}).content
    assert AuditLog.objects.filter(action="room.retention").count() == 2
    # The room's page links its settings for staff (and a private room's owner) only.
    link = b'href="/chat/ops/settings/"'
    assert link in staff.get("/chat/ops/").content
    assert link not in member.get("/chat/ops/").content
