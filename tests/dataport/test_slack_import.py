"""`manage.py slack_import`: a Slack export written by the test (public, private, DM
and group DM conversations, threads, reactions, edits, files present and absent, bots,
deleted users, mrkdwn, non-Latin text, a 1,000-message day) imported twice, then read
back through the API and the socket in order."""

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from accounts.models import Profile
from chat.models import Attachment, Membership, Message, Reaction, Room, Thread
from chat.services import importing
from dataport.models import SlackImported
from tests.dataport.slack_export import BIG_DAY_MESSAGES, BROADCAST, DAY1_KEPT, export_write
from tests.published import intercept

pytestmark = pytest.mark.django_db(transaction=True)
GENERAL_MESSAGES = DAY1_KEPT + BIG_DAY_MESSAGES


def run(path: Path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("slack_import", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def counts(out: str) -> dict[str, tuple[int, int, int]]:
    """The summary's table: kind -> (created, matched, skipped)."""
    found: dict[str, tuple[int, int, int]] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1].isdigit():
            found[parts[0]] = (int(parts[1]), int(parts[2]), int(parts[3]))
    return found


def api_timeline(client: Client, slug: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    after = 0
    for _ in range(100):  # bounded: 100 pages of 100
        page = client.get(f"/api/rooms/{slug}/messages/", {"after": after, "limit": 100}).json()
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = page["messages"][-1]["seq"]
    raise AssertionError("more pages than expected")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return export_write(tmp_path / "slack.zip")


@pytest.fixture
def before(make_user: Callable[..., User]) -> User:
    """An account matched by email, a username and a slug the import must not take."""
    ann = make_user("ann", email="ann@example.com")
    make_user("bob.b")  # another person: Slack's bob.b becomes bob.b-2
    Room.objects.create(slug="general", name="Ours", created_by=ann)
    return ann


def test_export_is_imported_once_and_reads_back_in_order(
    export: Path, before: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CHAT_SITE_URL = "https://chat.example"
    published = intercept(monkeypatch)
    out, err = run(export)
    assert "100%" in err  # the progress bar, on stderr
    first = counts(out)
    assert first["users"] == (5, 1, 0)  # ann matched; bob, li_lei, gone, deploybot, ci
    assert first["rooms"] == (5, 0, 0)
    assert first["messages"][0] == GENERAL_MESSAGES + 1 + 2 + 2 + 1
    assert "join/leave: 2" in out
    assert first["threads"] == (1, 0, 0)
    assert first["reactions"][0] == 3
    assert ":partyparrot: (1)" in out
    assert first["files"][0] == 1
    assert "not in the export: linked: 1" in out

    again, _ = run(export)
    second = counts(again)
    assert second["users"] == (0, 5, 0)  # users.json's; ci is met only in messages
    assert second["rooms"] == (0, 5, 0)
    assert second["messages"] == (0, first["messages"][0], 2)
    assert Message.objects.count() == first["messages"][0]
    assert Reaction.objects.count() == 3
    # History is not live: no message frame (the rooms' joins are told, as any join).
    assert not [p for p in published if p.event["type"] == "chat.messages"]

    # People: matched by email, created without a usable password, deleted -> inactive.
    bob = User.objects.get(email="bob@example.com")
    assert bob.username == "bob.b-2"
    assert not bob.has_usable_password()
    assert not User.objects.get(username="gone").is_active
    assert Profile.objects.get(user__username="li_lei").display_name == "李雷"
    assert Profile.objects.get(user__username="deploybot").is_bot
    assert Profile.objects.get(user__username="ci").is_bot
    assert SlackImported.objects.get(kind="user", slack_id="U1").local_id == before.pk

    # Conversations.
    general = Room.objects.get(name="general")
    assert general.slug == "general-2"
    assert not general.is_private
    assert general.topic == "Talk about anything"
    assert Room.objects.get(slug="old-stuff").is_locked
    secret = Room.objects.get(slug="secret")
    assert secret.is_private
    assert set(secret.members.values_list("username", flat=True)) == {
        "ann", "bob.b-2",
    }  # fmt: skip
    dm = Room.objects.get(is_direct=True)
    assert set(dm.members.values_list("username", flat=True)) == {"ann", "bob.b-2"}
    group = Room.objects.get(slug__startswith="mpdm")
    assert group.is_private
    assert group.members.count() == 3
    # Imported history is read for everyone.
    for membership in Membership.objects.select_related("room"):
        assert membership.last_read_seq == membership.room.last_seq

    client = Client()
    client.force_login(before)
    timeline = api_timeline(client, general.slug)
    # Seq 2 is a thread reply: in its thread, not in the room's timeline.
    assert [m["seq"] for m in timeline] == [1, *range(3, GENERAL_MESSAGES + 1)]
    times = [m["created_at"] for m in timeline]
    assert times == sorted(times)
    root = timeline[0]
    assert root["author"] == "ann"
    assert root["body"].startswith(
        "Hello @bob.b-2 & @li_lei: see [#old-stuff](<https://chat.example/chat/old-stuff/>),"
        " [the site](<https://example.com>) and **this** _now_ @here"
    )
    assert root["mentions"] == ["bob.b-2", "li_lei"]
    assert {r["emoji"]: r["count"] for r in root["reactions"]} == {"👍": 2}
    assert root["thread_summary"]["replies"] == 2
    assert timeline[1]["body"] == BROADCAST
    assert timeline[1]["also_to_room"]
    edited = timeline[2]
    assert edited["body"] == "fixed typo"
    assert edited["edited_at"] is not None
    plan, linked = timeline[3], timeline[4]
    assert plan["attachment"]["name"] == "plan.txt"
    stored = Attachment.objects.get(name="plan.txt")
    assert stored.file.read() == b"step 1\nstep 2\n"
    assert linked["attachment"] is None
    assert linked["body"] == "[big.pdf](<https://files.slack.com/files-pri/T1-F2/big.pdf>)"
    bot, ci, bye = timeline[5], timeline[6], timeline[7]
    assert (bot["author"], bot["author_bot"]) == ("deploybot", True)
    assert bot["body"] == "Deployed `v1.2` to prod"
    assert ci["author"] == "ci"
    assert ci["author_bot"]
    assert bye["author"] == "gone"
    assert bye["group_mention"] == "room"
    assert [m["body"] for m in timeline[-BIG_DAY_MESSAGES:]] == [
        f"message {i}" for i in range(BIG_DAY_MESSAGES)
    ]
    replies = client.get(
        f"/api/rooms/{general.slug}/messages/", {"thread": root["id"], "after": 0}
    ).json()["messages"]
    assert [(m["author"], m["body"]) for m in replies] == [
        ("bob.b-2", "on it"),
        ("li_lei", BROADCAST),
    ]
    assert Thread.objects.get(root_id=root["id"]).replies == 2
    assert [m["body"] for m in api_timeline(client, "secret")] == ["private plans", "agreed"]
    assert api_timeline(client, "secret")[1]["reactions"][0]["emoji"] == "👍"
    assert [m["body"] for m in api_timeline(client, dm.slug)] == ["psst, ann", "hi bob"]
    # Searchable, as any message.
    found = client.get("/api/search/", {"q": "private plans"}).json()["results"]
    assert [r["body"] for r in found] == ["private plans"]


async def test_socket_hello_holds_the_imported_history_in_order(
    export: Path, before: User, open_socket: Any
) -> None:
    await database_sync_to_async(run)(export)
    slug = await database_sync_to_async(lambda: Room.objects.get(name="general").slug)()
    comm = await open_socket(before, f"/ws/chat/{slug}/")
    assert (await comm.connect())[0]
    hello = await comm.receive_json_from(timeout=3)
    seqs = [m["seq"] for m in hello["history"]]
    assert seqs == list(range(GENERAL_MESSAGES - len(seqs) + 1, GENERAL_MESSAGES + 1))
    assert hello["history"][-1]["body"] == f"message {BIG_DAY_MESSAGES - 1}"
    await comm.send_json_to({"type": "history.fetch", "before": 11, "limit": 10})
    page = await comm.receive_json_from(timeout=3)
    assert page["type"] == "history"
    assert [m["seq"] for m in page["messages"]] == [1, *range(3, 11)]  # 2: a thread reply
    assert page["messages"][0]["body"].startswith("Hello @bob.b-2")


def test_an_interrupted_import_resumes_without_doubles(
    export: Path, before: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "SQLITE_BATCH_ROWS", 300)
    monkeypatch.setattr(importing, "PG_BATCH_ROWS", 300)
    real = importing.history_import
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> dict[str, int]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the operator's ^C in the middle of general
        return real(*args, **kwargs)

    monkeypatch.setattr("dataport.slack.importer.history_import", failing)
    with pytest.raises(KeyboardInterrupt):
        run(export)
    partial = Message.objects.count()
    assert partial == 600  # two chunks committed, the third rolled back
    monkeypatch.setattr("dataport.slack.importer.history_import", real)
    out, _ = run(export)
    assert counts(out)["messages"][:2] == (GENERAL_MESSAGES + 6 - 600, 600)
    general = Room.objects.get(name="general")
    seqs = list(Message.objects.filter(room=general).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, GENERAL_MESSAGES + 1))
    assert general.last_seq == GENERAL_MESSAGES
    bodies = Message.objects.filter(room=general).values_list("body", flat=True)
    assert len(set(bodies)) == len(bodies)  # nothing twice


def test_dry_run_writes_nothing_and_rooms_choose(export: Path, before: User) -> None:
    out, _ = run(export, "--dry-run")
    assert "dry run" in out
    assert counts(out)["messages"][0] == GENERAL_MESSAGES + 6
    assert not SlackImported.objects.exists()
    assert Message.objects.count() == 0
    out, _ = run(export, "--rooms", "secret,D1")
    assert counts(out)["rooms"] == (2, 0, 3)
    assert sorted(Message.objects.values_list("body", flat=True)) == sorted(
        ["private plans", "agreed", "psst, ann", "hi bob"]
    )


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"not a zip")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a zip"):
        run(bad)
