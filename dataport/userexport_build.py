"""The contents of a person's own export (/accounts/export/): their profile, messages,
files, reactions, memberships, read state and notification settings, written into a zip
one row at a time (bounded memory, whatever their history's size). Never writes the
database; never reads anyone else's data.

What "theirs" means, in one place (`rooms_visible`): rooms they can read today, i.e.
public rooms and the private rooms (DMs included) they are a member of. A private room
they left or were never in contributes nothing, not even its name through one of their
old messages, reactions or thread follows there."""

import json
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet

from accounts.models import Profile
from chat.models import (
    Attachment,
    Membership,
    Message,
    NotifyPrefs,
    Reaction,
    Room,
    ThreadFollow,
)
from notify.models import PushSubscription

FORMAT_VERSION = 1
# Rows fetched per round trip: memory stays bounded by this, not by the history's size.
CHUNK_ROWS = 500

README = """\
Your data from the chat, as of {at}.

profile.json                  your account and profile (and avatar.* if you have one)
memberships.json              the rooms you are in, when you joined, your notification
                              level and how far you have read there (read state)
messages.jsonl                one JSON object per line: each message you wrote, with its
                              room's name, its time, its edits and its file if any
files/                        the files you attached to those messages
reactions.jsonl               each reaction you gave, with the room and message it is on
threads.jsonl                 the threads you follow and how far you have read them
notification_settings.json    do not disturb, missed-messages email, thread replies,
                              per-room levels and the devices that get push notifications

Only rooms you can read today are included: public rooms, and the private rooms and
direct conversations you are a member of. Deleted messages are not included.
Times are UTC, ISO 8601.
"""


def rooms_visible(user: User) -> QuerySet[Room]:
    """The rooms whose content may appear in this person's export."""
    return Room.objects.filter(
        Q(is_private=False) | Q(pk__in=Membership.objects.filter(user=user).values("room_id"))
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _room_of(room_id: int, rooms: dict[int, Room]) -> Room:
    """From the rooms read at the start; one the person joined since (each query checks
    visibility again as it runs) is read when first met."""
    if room_id not in rooms:
        rooms[room_id] = Room.objects.only("pk", "slug", "name").get(pk=room_id)
    return rooms[room_id]


def _room(room_id: int, rooms: dict[int, Room]) -> dict[str, Any]:
    room = _room_of(room_id, rooms)
    return {"slug": room.slug, "name": room.name}


def _json(zf: zipfile.ZipFile, name: str, value: object) -> None:
    zf.writestr(name, json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def _jsonl(zf: zipfile.ZipFile, name: str, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with zf.open(name, "w") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
            count += 1
    return count


def _copy_file(zf: zipfile.ZipFile, stored: str | None, name: str) -> bool:
    """Copy a stored upload into the zip; False (and nothing written) if it is gone."""
    if not stored or not default_storage.exists(stored):
        return False
    with default_storage.open(stored, "rb") as source, zf.open(name, "w") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
    return True


def _profile(zf: zipfile.ZipFile, user: User) -> None:
    profile = Profile.objects.filter(user=user).first()
    avatar = ""
    if profile is not None and profile.avatar.name:
        suffix = PurePosixPath(profile.avatar.name).suffix[:10]
        if _copy_file(zf, profile.avatar.name, f"avatar{suffix}"):
            avatar = f"avatar{suffix}"
    _json(
        zf,
        "profile.json",
        {
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "display_name": profile.display_name if profile else "",
            "theme": profile.theme if profile else "system",
            "timezone": profile.timezone if profile else "",
            "is_bot": profile.is_bot if profile else False,
            "avatar": avatar,
        },
    )


def _memberships(zf: zipfile.ZipFile, user: User) -> None:
    rows = (
        Membership.objects.filter(user=user)
        .select_related("room")
        .order_by("room__slug")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    _json(
        zf,
        "memberships.json",
        [
            {
                "room": {"slug": m.room.slug, "name": m.room.name},
                "private": m.room.is_private,
                "direct": m.room.is_direct,
                "joined_at": _iso(m.added_at),
                "last_read_seq": m.last_read_seq,
                "room_last_seq": m.room.last_seq,
                "notify_level": m.notify_level or "default",
            }
            for m in rows
        ],
    )


def _mine(user: User, rooms: dict[int, Room]) -> QuerySet[Message]:
    return Message.objects.filter(
        author=user, deleted_at__isnull=True, room_id__in=rooms_visible(user).values("pk")
    )


def _file_path(room: Room, message: Message, attachment: Attachment) -> str:
    return f"files/{room.slug}/{message.seq}-{attachment.name}"


def _messages(zf: zipfile.ZipFile, user: User, rooms: dict[int, Room]) -> int:
    """messages.jsonl; the files are copied after it (zipfile writes one member at a
    time), so a file's path is given here only if the file is there to copy."""
    mine = _mine(user, rooms)
    # Seqs of what they answer: always in the same room, so no other room is named.
    answered = Message.objects.filter(
        pk__in=mine.exclude(reply_to=None).values("reply_to_id")
    ).values_list("pk", "seq")
    roots = Message.objects.filter(pk__in=mine.exclude(thread=None).values("thread_id"))
    seqs = dict(answered.iterator(chunk_size=CHUNK_ROWS))
    seqs.update(roots.values_list("pk", "seq").iterator(chunk_size=CHUNK_ROWS))

    def rows() -> Iterator[dict[str, Any]]:
        found = (
            mine.select_related("attachment")
            .prefetch_related("edits")
            .order_by("created_at", "pk")
            .iterator(chunk_size=CHUNK_ROWS)
        )
        for message in found:
            file = None
            attachment = getattr(message, "attachment", None)
            if attachment is not None:
                stored = attachment.file.name
                file = {
                    "name": attachment.name,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "path": (
                        _file_path(_room_of(message.room_id, rooms), message, attachment)
                        if stored and default_storage.exists(stored)
                        else None
                    ),
                }
            yield {
                "room": _room(message.room_id, rooms),
                "seq": message.seq,
                "created_at": _iso(message.created_at),
                "edited_at": _iso(message.edited_at),
                "body": message.body,
                "reply_to_seq": seqs.get(message.reply_to_id or 0),
                "thread_root_seq": seqs.get(message.thread_id or 0),
                "also_to_room": message.also_to_room,
                "edits": [
                    {"body": edit.body, "edited_at": _iso(edit.edited_at)}
                    for edit in sorted(message.edits.all(), key=lambda e: e.edited_at)
                ],
                "file": file,
            }

    return _jsonl(zf, "messages.jsonl", rows())


def _files(zf: zipfile.ZipFile, user: User, rooms: dict[int, Room]) -> int:
    attachments = (
        Attachment.objects.filter(message__in=_mine(user, rooms))
        .select_related("message")
        .order_by("pk")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    copied = 0
    for attachment in attachments:
        message = attachment.message
        path = _file_path(_room_of(message.room_id, rooms), message, attachment)
        copied += _copy_file(zf, attachment.file.name, path)
    return copied


def _reactions(zf: zipfile.ZipFile, user: User, rooms: dict[int, Room]) -> int:
    found = (
        Reaction.objects.filter(
            user=user,
            message__room_id__in=rooms_visible(user).values("pk"),
            message__deleted_at__isnull=True,
        )
        .order_by("created_at", "pk")
        .values_list("emoji", "created_at", "message__room_id", "message__seq")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    return _jsonl(
        zf,
        "reactions.jsonl",
        (
            {"room": _room(room_id, rooms), "seq": seq, "emoji": emoji, "created_at": _iso(at)}
            for emoji, at, room_id, seq in found
        ),
    )


def _threads(zf: zipfile.ZipFile, user: User, rooms: dict[int, Room]) -> int:
    found = (
        ThreadFollow.objects.filter(user=user, thread__room_id__in=rooms_visible(user).values("pk"))
        .order_by("pk")
        .values_list("thread__room_id", "thread__root__seq", "following", "last_read_seq")
        .iterator(chunk_size=CHUNK_ROWS)
    )
    return _jsonl(
        zf,
        "threads.jsonl",
        (
            {
                "room": _room(room_id, rooms),
                "root_seq": root_seq,
                "following": following,
                "last_read_seq": last_read,
            }
            for room_id, root_seq, following, last_read in found
        ),
    )


def _notification_settings(zf: zipfile.ZipFile, user: User) -> None:
    prefs = NotifyPrefs.objects.filter(user=user).first()
    levels = (
        Membership.objects.filter(user=user)
        .order_by("room__slug")
        .values_list("room__slug", "room__name", "notify_level")
    )
    # Push endpoints and keys are capabilities, not information about the person: only
    # which devices get notifications is written.
    devices = PushSubscription.objects.filter(user=user).order_by("created_at")
    _json(
        zf,
        "notification_settings.json",
        {
            "paused_until": _iso(prefs.paused_until) if prefs else None,
            "email_missed": prefs.email_missed if prefs else True,
            "thread_replies": prefs.thread_replies if prefs else True,
            "rooms": [
                {"room": {"slug": slug, "name": name}, "level": level or "default"}
                for slug, name, level in levels
            ],
            "push_devices": [
                {
                    "user_agent": device.user_agent,
                    "created_at": _iso(device.created_at),
                    "last_success_at": _iso(device.last_success_at),
                }
                for device in devices
            ],
        },
    )


def export_write(zf: zipfile.ZipFile, user: User, *, at: datetime) -> dict[str, int]:
    """Write this person's whole export into `zf`; returns the counts (also written to
    manifest.json)."""
    rooms = {room.pk: room for room in rooms_visible(user).only("pk", "slug", "name")}
    zf.writestr("README.txt", README.format(at=at.isoformat()))
    _profile(zf, user)
    _memberships(zf, user)
    counts = {
        "messages": _messages(zf, user, rooms),
        "files": _files(zf, user, rooms),
        "reactions": _reactions(zf, user, rooms),
        "threads": _threads(zf, user, rooms),
    }
    _notification_settings(zf, user)
    _json(
        zf,
        "manifest.json",
        {"format_version": FORMAT_VERSION, "user": user.username, "at": at.isoformat(), **counts},
    )
    return counts
