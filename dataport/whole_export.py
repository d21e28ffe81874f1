"""chat_export's writer: the users, rooms, memberships and messages (with their edits,
reactions, threads, mentions and files) of the whole chat or some rooms, streamed into
one zip as JSON Lines (format: dataport/whole_format.py, docs/data.md). Reads only;
memory stays bounded by a chunk of messages whatever the chat's size."""

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Profile
from chat.models import Attachment, Membership, Message, Reaction, Room
from dataport import whole_format as fmt
from dataport.whole_format import Checksum, MemberWriter, time_out

# Messages fetched per query (with their edits, reactions and files prefetched).
CHUNK_MESSAGES = 2000


@dataclass(frozen=True, slots=True)
class ExportOptions:
    rooms: list[str] | None = None  # slugs; None: every room
    since: datetime | None = None  # messages created at or after; None: all
    with_credentials: bool = False  # users' password hashes


def chat_export(out: Path, options: ExportOptions) -> fmt.Manifest:
    """Write the archive to `out` (replaced if there); returns its manifest. Unknown
    room slugs raise ValueError before anything is written."""
    rooms = Room.objects.order_by("pk")
    if options.rooms is not None:
        rooms = rooms.filter(slug__in=options.rooms)
        missing = set(options.rooms) - set(rooms.values_list("slug", flat=True))
        if missing:
            raise ValueError(f"no such room: {', '.join(sorted(missing))}")
    messages = Message.objects.filter(room__in=rooms)
    if options.since is not None:
        messages = messages.filter(created_at__gte=options.since)
    members: dict[str, Checksum] = {}
    counts: dict[str, int] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:

        def write(name: str, items: Iterator[dict[str, Any]]) -> None:
            writer = MemberWriter(archive, name)
            for item in items:
                writer.line(item)
            members[name] = writer.close()
            counts[name.removesuffix(".jsonl")] = writer.lines

        users = _users_of(rooms, messages, whole=options.rooms is None)
        write(fmt.USERS, _users_out(users, options.with_credentials))
        write(fmt.ROOMS, (_room_out(room) for room in rooms.select_related("created_by")))
        write(
            fmt.MEMBERSHIPS,
            (
                _membership_out(m)
                for m in Membership.objects.filter(room__in=rooms)
                .select_related("room", "user")
                .order_by("room_id", "pk")
                .iterator(chunk_size=CHUNK_MESSAGES)
            ),
        )
        tally = {"edits": 0, "reactions": 0, "attachments": 0}
        write(fmt.MESSAGES, _messages_out(messages, tally))
        counts.update(tally)
        counts["files"] = _files_write(archive, messages, users, members)
        manifest: fmt.Manifest = {
            "format": fmt.FORMAT_NAME,
            "version": fmt.FORMAT_VERSION,
            "created_at": timezone.now().isoformat(),
            "options": {
                "rooms": options.rooms,
                "since": time_out(options.since),
                "with_credentials": options.with_credentials,
            },
            "counts": counts,
            "members": members,
        }
        writer = MemberWriter(archive, fmt.MANIFEST)
        writer.raw(_json(manifest))
        writer.close()
    return manifest


def _json(item: Any) -> bytes:
    return json.dumps(item, ensure_ascii=False, indent=1).encode()


def _users_of(rooms: QuerySet[Room], messages: QuerySet[Message], *, whole: bool) -> QuerySet[User]:
    """Everyone for the whole chat; for some rooms, whoever those rooms' history names:
    members, authors, reactors, creators (and the bots' owners stay as names)."""
    if whole:
        return User.objects.order_by("pk")
    wanted = (
        Q(pk__in=Membership.objects.filter(room__in=rooms).values("user_id"))
        | Q(pk__in=messages.filter(author__isnull=False).values("author_id"))
        | Q(pk__in=Reaction.objects.filter(message__in=messages).values("user_id"))
        | Q(pk__in=rooms.filter(created_by__isnull=False).values("created_by_id"))
    )
    return User.objects.filter(wanted).order_by("pk")


def _avatar_name(user_id: int) -> str:
    return f"{fmt.FILES_DIR}avatars/{user_id}"


def _users_out(users: QuerySet[User], credentials: bool) -> Iterator[dict[str, Any]]:
    rows = users.select_related("profile__bot_owner").iterator(chunk_size=CHUNK_MESSAGES)
    for user in rows:
        try:
            profile: Profile | None = user.profile
        except Profile.DoesNotExist:
            profile = None
        item: dict[str, Any] = {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "date_joined": time_out(user.date_joined),
            "last_login": time_out(user.last_login),
            "profile": None if profile is None else {
                "display_name": profile.display_name,
                "theme": profile.theme,
                "timezone": profile.timezone,
                "is_bot": profile.is_bot,
                "bot_owner": profile.bot_owner.username if profile.bot_owner else None,
                "version": profile.version,
                "avatar": _avatar_name(user.pk) if profile.avatar else None,
            },
        }  # fmt: skip
        if credentials:
            item["password"] = user.password
        yield item


def _room_out(room: Room) -> dict[str, Any]:
    return {
        "id": room.pk,
        "slug": room.slug,
        "name": room.name,
        "topic": room.topic,
        "created_by": room.created_by.username if room.created_by else None,
        "created_at": time_out(room.created_at),
        "is_private": room.is_private,
        "is_direct": room.is_direct,
        "is_locked": room.is_locked,
        "is_default": room.is_default,
        "last_seq": room.last_seq,
        # A direct conversation's slug is made of its two members' ids (dm_open finds it
        # by them): the import makes it again from the new ids.
        "direct_members": sorted(
            room.memberships.values_list("user__username", flat=True)
        ) if room.is_direct else None,
    }  # fmt: skip


def _membership_out(m: Membership) -> dict[str, Any]:
    return {
        "room": m.room.slug,
        "user": m.user.username,
        "added_at": time_out(m.added_at),
        "last_read_seq": m.last_read_seq,
        "notify_level": m.notify_level,
    }


def _file_name(attachment_id: int, part: str) -> str:
    return f"{fmt.FILES_DIR}{attachment_id}/{part}"


def _messages_out(messages: QuerySet[Message], tally: dict[str, int]) -> Iterator[dict[str, Any]]:
    rows = (
        messages.order_by("room_id", "seq")
        .select_related("room", "author", "attachment")
        .prefetch_related("edits", "reactions__user")
        .iterator(chunk_size=CHUNK_MESSAGES)
    )
    for m in rows:
        deleted = m.deleted_at is not None
        # A deleted or hidden message keeps its seq (and a thread's root its place) but
        # none of its content leaves the server.
        edits = [] if deleted else [
            {"body": e.body, "edited_at": time_out(e.edited_at)} for e in m.edits.all()
        ]  # fmt: skip
        reactions = [] if deleted else [
            {"user": r.user.username, "emoji": r.emoji, "created_at": time_out(r.created_at)}
            for r in sorted(m.reactions.all(), key=lambda r: r.pk)
        ]  # fmt: skip
        attachment = None if deleted else _attachment_out(m)
        tally["edits"] += len(edits)
        tally["reactions"] += len(reactions)
        tally["attachments"] += attachment is not None
        yield {
            "room": m.room.slug,
            "id": m.pk,
            "seq": m.seq,
            "kind": m.kind,
            "author": m.author.username if m.author else None,
            "body": "" if deleted else m.body,
            "created_at": time_out(m.created_at),
            "edited_at": None if deleted else time_out(m.edited_at),
            "deleted_at": time_out(m.deleted_at),
            "thread": m.thread_id,
            "also_to_room": m.also_to_room,
            "reply_to": m.reply_to_id,
            "client_id": m.client_id,
            "as_name": m.as_name,
            "as_avatar": m.as_avatar,
            "as_emoji": m.as_emoji,
            "mentions": [] if deleted else list(m.mentions),
            "edits": edits,
            "reactions": reactions,
            "attachment": attachment,
        }


def _attachment_out(m: Message) -> dict[str, Any] | None:
    try:
        a: Attachment = m.attachment
    except Attachment.DoesNotExist:
        return None
    return {
        "id": a.pk,
        "kind": a.kind,
        "name": a.name,
        "content_type": a.content_type,
        "size": a.size,
        "width": a.width,
        "height": a.height,
        "thumbnail_width": a.thumbnail_width,
        "thumbnail_height": a.thumbnail_height,
        "created_at": time_out(a.created_at),
        "file": _file_name(a.pk, "file") if a.file else None,
        "thumbnail": _file_name(a.pk, "thumbnail") if a.thumbnail else None,
    }


def _files_write(
    archive: zipfile.ZipFile,
    messages: QuerySet[Message],
    users: QuerySet[User],
    members: dict[str, Checksum],
) -> int:
    """Copy the stored files in chunks (a zip takes one member at a time, so after the
    JSON). A file missing from storage is left out and its line says where it was: the
    import then keeps the message without it."""
    written = 0
    stored = (
        Attachment.objects.filter(message__in=messages.filter(deleted_at__isnull=True))
        .order_by("pk")
        .iterator(chunk_size=CHUNK_MESSAGES)
    )
    for a in stored:
        for part, field in (("file", a.file), ("thumbnail", a.thumbnail)):
            if field.name and _copy(archive, field.name, _file_name(a.pk, part), members):
                written += 1
    for profile in Profile.objects.filter(user__in=users).exclude(avatar="").iterator():
        if profile.avatar.name and _copy(
            archive, profile.avatar.name, _avatar_name(profile.user_id), members
        ):
            written += 1
    return written


def _copy(archive: zipfile.ZipFile, stored: str, name: str, members: dict[str, Checksum]) -> bool:
    if not default_storage.exists(stored):
        return False
    writer = MemberWriter(archive, name)
    with default_storage.open(stored, "rb") as source:
        while chunk := source.read(fmt.CHUNK_BYTES):
            writer.raw(chunk)
    members[name] = writer.close()
    return True
