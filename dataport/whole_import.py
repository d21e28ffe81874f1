"""chat_import's reader: a chat_export archive into an empty instance. The archive is
checked whole first (manifest, version, every member's checksum), then read one line at
a time: users, rooms, memberships, then each room's messages through the one bulk
history writer (chat/services/importing.py), which keeps seqs, threads, mentions,
reactions, edits and files consistent and publishes nothing."""

import itertools
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from accounts.models import Profile
from chat.models import Attachment, Membership, Message, Room
from chat.services import importing
from chat.services.importing import EarlierText, HistoryRow, ImportedReaction
from chat.services.posting import NewAttachment
from dataport import whole_format as fmt
from dataport.whole_format import time_in

Progress = Callable[[str], None]


class NotEmpty(Exception):
    """The instance already holds people or messages: an import would mix two chats."""


def instance_empty_check() -> None:
    """Raise NotEmpty unless there is no account and no message. Rooms without messages
    (the lobby made by the migrations) do not count: the archive's rooms replace them
    by slug."""
    if User.objects.exists() or Message.objects.exists():
        raise NotEmpty(
            "this instance is not empty (it has accounts or messages): chat_import only"
            " fills a new one (migrate, then chat_import, before anyone signs up)"
        )


def chat_import(path: Path, progress: Progress = lambda line: None) -> dict[str, int]:
    """Import the archive at `path`; returns the counts imported. ValueError for a
    damaged or foreign archive, NotEmpty for a used instance; either before any write."""
    with zipfile.ZipFile(path) as archive:
        manifest = fmt.manifest_read(archive)
        instance_empty_check()
        users = _users_in(archive)
        progress(f"users: {len(users)}")
        rooms, last_seqs = _rooms_in(archive, users)
        progress(f"rooms: {len(rooms)}")
        memberships = _memberships_in(archive, users, rooms)
        counts = {"users": len(users), "rooms": len(rooms), "memberships": memberships}
        counts["messages"] = _messages_in(archive, users, rooms, progress)
        for slug, room_id in rooms.items():
            importing.room_last_seq_raise(room_id, last_seqs[slug])
        _pointers_in(archive, users, rooms)
    expected = manifest["counts"]
    for name in ("users", "rooms", "memberships", "messages"):
        if counts[name] != expected.get(name):
            raise ValueError(f"{name}: imported {counts[name]}, manifest says {expected.get(name)}")
    return counts


@transaction.atomic
def _users_in(archive: zipfile.ZipFile) -> dict[str, int]:
    """Accounts by username -> new id. Without credentials in the archive an account
    has no usable password: its owner sets one by password reset (or signs in by SSO)."""
    ids: dict[str, int] = {}
    owners: list[tuple[int, str]] = []
    avatars: list[tuple[Profile, str]] = []
    for item in fmt.lines_read(archive, fmt.USERS):
        user = User(
            username=item["username"],
            email=item["email"],
            first_name=item["first_name"],
            last_name=item["last_name"],
            is_active=item["is_active"],
            is_staff=item["is_staff"],
            is_superuser=item["is_superuser"],
            date_joined=time_in(item["date_joined"]) or timezone.now(),
            last_login=time_in(item["last_login"]),
        )
        if item.get("password"):
            user.password = item["password"]
        else:
            user.set_unusable_password()
        user.save()
        ids[user.username] = user.pk
        if (p := item.get("profile")) is not None:
            profile = Profile.objects.create(
                user=user,
                display_name=p["display_name"],
                theme=p["theme"],
                timezone=p["timezone"],
                is_bot=p["is_bot"],
                version=p["version"],
            )
            if p["bot_owner"]:
                owners.append((profile.pk, p["bot_owner"]))
            if p["avatar"] and p["avatar"] in archive.NameToInfo:
                avatars.append((profile, p["avatar"]))
    for profile_id, owner in owners:
        Profile.objects.filter(pk=profile_id).update(bot_owner_id=ids.get(owner))
    for profile, name in avatars:
        with archive.open(name) as stream:
            stored = default_storage.save(f"avatars/{uuid.uuid4().hex}", File(stream))
        Profile.objects.filter(pk=profile.pk).update(avatar=stored)
    return ids


@transaction.atomic
def _rooms_in(
    archive: zipfile.ZipFile, users: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    rooms: dict[str, int] = {}
    last_seqs: dict[str, int] = {}
    for item in fmt.lines_read(archive, fmt.ROOMS):
        fields = {
            "name": item["name"],
            "topic": item["topic"],
            "created_by_id": users.get(item["created_by"] or ""),
            "created_at": time_in(item["created_at"]),
            "is_private": item["is_private"],
            "is_direct": item["is_direct"],
            "is_locked": item["is_locked"],
            "is_default": item["is_default"],
        }
        # A room the migrations made (the lobby) has no message yet: the archive's wins.
        room, _ = Room.objects.update_or_create(slug=_slug(item, users), defaults=fields)
        # The archive's lines name the room by the slug it had there.
        rooms[item["slug"]] = room.pk
        last_seqs[item["slug"]] = int(item["last_seq"])
    return rooms, last_seqs


def _slug(item: dict[str, Any], users: dict[str, int]) -> str:
    """The room's slug here: a direct conversation's is made of its members' new ids
    as chat.services.dm_open makes it (else the next dm_open would start another)."""
    pair = item.get("direct_members") or []
    if item["is_direct"] and len(pair) == 2 and all(name in users for name in pair):
        low, high = sorted(users[name] for name in pair)
        return f"dm-{low}-{high}"
    return str(item["slug"])


def _memberships_in(archive: zipfile.ZipFile, users: dict[str, int], rooms: dict[str, int]) -> int:
    """Members first (mentions resolve against them); pointers after the messages."""
    count = 0
    for chunk in _chunks(fmt.lines_read(archive, fmt.MEMBERSHIPS)):
        Membership.objects.bulk_create(
            [
                Membership(
                    room_id=rooms[item["room"]],
                    user_id=users[item["user"]],
                    added_at=time_in(item["added_at"]) or timezone.now(),
                    notify_level=item["notify_level"],
                )
                for item in chunk
            ]
        )
        count += len(chunk)
    for room_id in rooms.values():
        # Room.notify_all_members counts the members with the level "all" (seqs.py).
        everything = Membership.objects.filter(
            room_id=room_id, notify_level=Membership.NotifyLevel.ALL
        ).count()
        Room.objects.filter(pk=room_id).update(notify_all_members=everything)
    return count


def _pointers_in(archive: zipfile.ZipFile, users: dict[str, int], rooms: dict[str, int]) -> None:
    """Each member's read pointer as the source had it (the writer left them all at the
    end: imported history is read, unless the source says someone had not read it)."""
    for chunk in _chunks(fmt.lines_read(archive, fmt.MEMBERSHIPS)):
        with transaction.atomic():
            for item in chunk:
                Membership.objects.filter(
                    room_id=rooms[item["room"]], user_id=users[item["user"]]
                ).update(last_read_seq=int(item["last_read_seq"]))


def _messages_in(
    archive: zipfile.ZipFile, users: dict[str, int], rooms: dict[str, int], progress: Progress
) -> int:
    total = 0
    lines = fmt.lines_read(archive, fmt.MESSAGES)
    for slug, items in itertools.groupby(lines, key=lambda item: str(item["room"])):
        room_id = rooms[slug]
        rows = (_row(archive, room_id, item, users) for item in items)
        total += len(importing.history_import(room_id, rows))
        progress(f"messages: {total} ({slug} done)")
    return total


def _row(
    archive: zipfile.ZipFile, room_id: int, item: dict[str, Any], users: dict[str, int]
) -> HistoryRow:
    created = _time(item["created_at"])
    return HistoryRow(
        key=str(item["id"]),
        author_id=users[item["author"]] if item["author"] is not None else None,
        body=item["body"],
        created_at=created,
        kind=item["kind"],
        edited_at=time_in(item["edited_at"]),
        deleted_at=time_in(item["deleted_at"]),
        thread_root_key=str(item["thread"]) if item["thread"] is not None else None,
        also_to_room=item["also_to_room"],
        reply_to_key=str(item["reply_to"]) if item["reply_to"] is not None else None,
        client_id=item["client_id"],
        seq=int(item["seq"]),
        attachment=_attachment_in(archive, room_id, item["attachment"]),
        reactions=tuple(
            ImportedReaction(users[r["user"]], r["emoji"], time_in(r["created_at"]))
            for r in item["reactions"]
            if r["user"] in users
        ),
        edits=tuple(EarlierText(e["body"], _time(e["edited_at"])) for e in item["edits"]),
        as_name=item["as_name"],
        as_avatar=item["as_avatar"],
        as_emoji=item["as_emoji"],
        mentions=tuple(item["mentions"]),
    )


def _time(value: str) -> datetime:
    parsed = time_in(value)
    if parsed is None:
        raise ValueError("a message without its time")
    return parsed


def _attachment_in(
    archive: zipfile.ZipFile, room_id: int, item: dict[str, Any] | None
) -> NewAttachment | None:
    """The file copied into storage in chunks (under a new name of the server's), or
    None when the archive does not hold it (the source had lost it)."""
    if item is None or not item["file"] or item["file"] not in archive.NameToInfo:
        return None
    base = f"attachments/{room_id}/{uuid.uuid4().hex}"
    with archive.open(item["file"]) as stream:
        file = default_storage.save(base, File(stream))
    thumbnail = ""
    if item["thumbnail"] and item["thumbnail"] in archive.NameToInfo:
        with archive.open(item["thumbnail"]) as stream:
            thumbnail = default_storage.save(f"{base}-thumb", File(stream))
    return NewAttachment(
        kind=item["kind"] if item["kind"] in Attachment.Kind.values else Attachment.Kind.FILE,
        file=file,
        name=item["name"],
        content_type=item["content_type"],
        size=int(item["size"]),
        thumbnail=thumbnail,
        width=int(item["width"]),
        height=int(item["height"]),
        thumbnail_width=int(item["thumbnail_width"]),
        thumbnail_height=int(item["thumbnail_height"]),
    )


def _chunks(items: Iterator[dict[str, Any]], size: int = 2000) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk
