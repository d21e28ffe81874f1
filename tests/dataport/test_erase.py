"""Erasing a person (dataport/erase.py, `manage.py erase_user`, the admin's action): what
identified them or let them in is gone, their messages stay anonymous or go the way
every deletion goes, and the audit log keeps who erased whom but not who they were."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit
from accounts.models import (
    DataExport,
    Invitation,
    InvitationUse,
    Profile,
    SessionRecord,
    SsoIdentity,
)
from chat import services
from chat.models import ApiToken, Attachment, AuditLog, Message, MessageEdit, Room, Thread
from chat.protocol.codes import CloseCode
from chat.services.posting import SendRequest, message_post_one
from dataport.userexport import export_path
from notify.models import PushSubscription
from tests.conftest import session_cookie
from tests.servers import ROOT, daphnes, recv_json, recv_until, ws_connect

PDF = b"%PDF-1.4\n" + b"0" * 300 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def a_person(make_user: Callable[..., User], room: Room) -> User:
    """Alice with everything an account can hold that names her or lets her in."""
    alice = make_user("alice", email="alice@example.com", first_name="Alice", last_name="Liddell")
    services.room_join(user=alice, slug=room.slug)
    avatar = default_storage.save(f"avatars/{alice.pk}-x.png", ContentFile(b"png"))
    Profile.objects.update_or_create(
        user=alice,
        defaults={"display_name": "Alice L.", "avatar": avatar, "timezone": "Europe/Paris"},
    )
    Client().force_login(alice)  # a session (and its record)
    services.token_create(user=alice, name="laptop")
    PushSubscription.objects.create(
        user=alice, endpoint="https://push.example/alice", p256dh="k", auth="a"
    )
    SsoIdentity.objects.create(provider="corp", sub="alice-sub", user=alice)
    TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    static = StaticDevice.objects.create(user=alice, name="recovery")
    StaticToken.objects.create(device=static, token="abcd1234")
    Group.objects.get_or_create(name="ldap")[0].user_set.add(alice)
    invitation = Invitation.objects.create(
        digest="d" * 64, prefix="p", expires_at="2100-01-01T00:00:00Z"
    )
    InvitationUse.objects.create(invitation=invitation, user=alice, username="alice")
    audit.record(
        audit.SecurityEvent.EMAIL_CHANGE,
        actor=alice,
        target=alice,
        reason="old@example.com -> alice@example.com",
    )
    AuditLog.objects.create(action="login.failure", target="alice", ip="192.0.2.7")
    AuditLog.objects.create(
        action="sanction.create", target="alice", target_user=alice, reason="alice: spam, alice2"
    )
    return alice


def test_erase_user_anonymises_the_account_and_keeps_messages_under_the_new_name(
    make_user: Callable[..., User],
    room: Room,
    bob: User,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = a_person(make_user, room)
    services.room_join(user=bob, slug=room.slug)
    root = services.message_post(room_id=room.pk, author=bob, body="lunch?", client_id="b1")
    message_post_one(
        SendRequest(
            room_id=room.pk, author=alice, body="yes please", client_id="a1", thread=root["id"]
        )
    )
    services.message_post(room_id=room.pk, author=alice, body="hello all", client_id="a0")
    assert Thread.objects.get(root_id=root["id"]).participants == ["alice"]
    # An export of her own she asked for earlier holds the data being erased.
    export = DataExport.objects.create(
        user=alice, key="k" * 43, status=DataExport.Status.READY, requested_at=timezone.now()
    )
    export_file = export_path(export)
    export_file.parent.mkdir(parents=True, exist_ok=True)
    export_file.write_bytes(b"PK")
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):  # the files go after commit
        call_command("erase_user", "alice", stdout=out, stderr=StringIO())
    assert not export_file.exists()
    export.refresh_from_db()
    assert export.status == DataExport.Status.EXPIRED

    name = f"deleted-{alice.pk}"
    assert out.getvalue().strip() == name
    alice.refresh_from_db()
    assert (alice.username, alice.email, alice.first_name, alice.last_name) == (name, "", "", "")
    assert not alice.is_active
    assert not alice.has_usable_password()
    assert not alice.groups.exists()  # the directory's mark
    profile = Profile.objects.get(user=alice)
    assert (profile.display_name, profile.avatar.name, profile.timezone) == ("", "", "")
    assert not [p for p in media_root.rglob("*") if p.is_file()]  # the avatar file
    for model in (SessionRecord, ApiToken, PushSubscription, SsoIdentity, TOTPDevice):
        assert not model.objects.filter(user=alice).exists(), model
    assert not StaticDevice.objects.filter(user=alice).exists()
    assert not StaticToken.objects.exists()
    assert InvitationUse.objects.get().username == name
    assert Thread.objects.get(root_id=root["id"]).participants == [name]
    # Kept, under the anonymous name, for everyone reading the room.
    client = Client()
    client.force_login(bob)
    rows = client.get(f"/api/rooms/{room.slug}/messages/").json()["messages"]
    assert [(m["author"], m["body"]) for m in rows] == [("bob", "lunch?"), (name, "hello all")]
    assert rows[1]["author_display_name"] == name  # no "Alice L." any more
    assert Message.objects.get(client_id="a1").deleted_at is None
    # The audit log: who erased whom (the system here), not who she was.
    erased = AuditLog.objects.get(action="user.erase")
    assert (erased.actor, erased.target, erased.target_user) == (None, name, alice)
    assert erased.reason == "messages kept under the anonymous name"
    assert not AuditLog.objects.filter(target="alice").exists()
    assert not AuditLog.objects.filter(ip__isnull=False).exists()
    change = AuditLog.objects.get(action="email.change")
    assert (change.target, change.reason) == (name, "")
    # Her name goes from reasons as a word; another's name containing it stays.
    assert AuditLog.objects.get(action="sanction.create").reason == f"{name}: spam, alice2"


def test_erase_user_delete_messages_removes_text_versions_and_files(
    make_user: Callable[..., User],
    room: Room,
    bob: User,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = make_user("alice")
    services.room_join(user=alice, slug=room.slug)
    services.room_join(user=bob, slug=room.slug)
    said = services.message_post(room_id=room.pk, author=alice, body="secret plan", client_id="a1")
    services.message_edit(message_id=said["id"], user=alice, body="the secret plan")
    services.message_post_file(
        room_id=room.pk,
        author=alice,
        upload=SimpleUploadedFile("plan.pdf", PDF, content_type="application/pdf"),
        body="the file",
        client_id="a2",
    )
    services.message_post(room_id=room.pk, author=bob, body="noted", client_id="b1")
    assert [p for p in media_root.rglob("*") if p.is_file()]
    # Erased first with her messages kept, then again (by her new name: a second run,
    # as after an interruption) with them deleted.
    call_command("erase_user", "alice", stdout=StringIO(), stderr=StringIO())
    name = f"deleted-{alice.pk}"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("erase_user", name, "--delete-messages", stdout=StringIO(), stderr=StringIO())
    alice.refresh_from_db()
    assert alice.username == name  # the same name the second time

    theirs = Message.objects.filter(author=alice)
    assert theirs.count() == 2
    assert not theirs.filter(deleted_at__isnull=True).exists()
    assert set(theirs.values_list("body", "html")) == {("", "")}
    assert not MessageEdit.objects.exists()
    assert not Attachment.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]
    client = Client()
    client.force_login(bob)
    page = client.get(f"/api/rooms/{room.slug}/messages/").content.decode()
    assert "noted" in page
    assert "secret" not in page
    assert "plan.pdf" not in page
    reasons = AuditLog.objects.filter(action="user.erase").order_by("pk").values_list("reason")
    assert [r for (r,) in reasons] == [
        "messages kept under the anonymous name",
        "2 messages to delete",
    ]


def test_admin_erase_action_confirms_then_erases_as_the_staff_member(
    make_user: Callable[..., User], room: Room
) -> None:
    staff = make_user("root", password="pw-root-123", is_staff=True, is_superuser=True)
    alice = make_user("alice", email="alice@example.com")
    services.message_post(room_id=room.pk, author=alice, body="hello", client_id="a1")
    client = Client()
    client.force_login(staff)
    form = {"action": "erase_users", "_selected_action": [str(alice.pk)]}
    page = client.post("/admin/auth/user/", form)
    assert page.status_code == 200
    assert b"Also delete their messages" in page.content
    alice.refresh_from_db()
    assert alice.is_active  # nothing happens before the confirmation
    done = client.post("/admin/auth/user/", {**form, "confirmed": "yes", "delete_messages": "on"})
    assert done.status_code == 302
    alice.refresh_from_db()
    assert (alice.username, alice.is_active) == (f"deleted-{alice.pk}", False)
    assert Message.objects.get(client_id="a1").deleted_at is not None
    entry = AuditLog.objects.get(action="user.erase")
    assert (entry.actor, entry.target_user) == (staff, alice)
    # Staff cannot erase themselves by mistake.
    client.post(
        "/admin/auth/user/",
        {"action": "erase_users", "_selected_action": [str(staff.pk)], "confirmed": "yes"},
    )
    staff.refresh_from_db()
    assert staff.is_active
    assert staff.username == "root"


@pytest.mark.slow
def test_erase_closes_their_sockets_on_every_process_and_others_see_messages_go(
    server_env: dict[str, str], log_dir: Path, make_user: Callable[..., User], media_root: Path
) -> None:
    lobby, _ = Room.objects.update_or_create(
        slug="lobby", defaults={"name": "Lobby", "is_default": True}
    )
    alice, bob = make_user("alice"), make_user("bob")
    said = services.message_post(room_id=lobby.pk, author=alice, body="bye all", client_id="a1")
    env = {**server_env, "DJANGO_MEDIA_ROOT": str(media_root)}
    hers, his = session_cookie(alice), session_cookie(bob)
    with daphnes(env, log_dir, 2) as (one, two):

        async def scenario() -> dict[str, Any]:
            mine = [await ws_connect(s, "/ws/chat/lobby/", hers) for s in (one, two)]
            theirs = await ws_connect(two, "/ws/chat/lobby/", his)
            for ws in [*mine, theirs]:
                assert (await recv_json(ws))["type"] == "hello"
            erase = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "manage.py", "erase_user", "alice", "--delete-messages"],
                cwd=ROOT,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert erase.returncode == 0, erase.stderr
            for ws in mine:
                await asyncio.wait_for(ws.wait_closed(), 3)
                assert ws.close_code == CloseCode.FORBIDDEN
            gone = await recv_until(theirs, "message.deleted", timeout=5)
            await theirs.close()
            return gone

        gone = asyncio.run(scenario())
        assert (gone["id"], gone["seq"]) == (said["id"], said["seq"])
    alice.refresh_from_db()
    assert (alice.username, alice.is_active) == (f"deleted-{alice.pk}", False)
    assert not SessionRecord.objects.filter(user=alice).exists()
