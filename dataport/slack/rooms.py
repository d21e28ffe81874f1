"""Slack conversations as rooms: public channels -> public rooms (archived -> locked),
private channels -> private rooms with their members, DMs -> direct conversations
(chat's dm_open), group DMs -> private rooms. A channel's name becomes its room's slug,
with a suffix when taken. Each recorded in SlackImported (its row also keeps the newest
message imported: dataport/slack/importer.py)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.text import slugify

from chat import services
from chat.models import Room
from dataport.models import SlackImported
from dataport.slack.convert import plain_convert
from dataport.slack.people import People
from dataport.slack.summary import Summary

MAX_SLUG_CHARS = 50
MAX_NAME_CHARS = 80
MAX_TOPIC_CHARS = 200
PUBLIC, PRIVATE, DM, GROUP_DM = "public", "private", "dm", "group_dm"
# The export's files and what their conversations are.
LISTS = (
    ("channels.json", PUBLIC),
    ("groups.json", PRIVATE),
    ("dms.json", DM),
    ("mpims.json", GROUP_DM),
)


@dataclass
class Conversation:
    slack_id: str
    kind: str
    name: str  # "" for a DM
    folder: str  # its folder in the export: a DM's id, otherwise its name
    members: list[str]
    creator: str
    topic: str
    archived: bool
    room_id: int = 0  # 0: not (yet) a room here (a dry run, or skipped)
    slug: str = ""
    last_ts: str = ""  # the newest message already imported

    def chosen(self, wanted: set[str]) -> bool:
        return not wanted or bool(
            {self.slack_id.lower(), self.name.lower(), self.folder.lower()} & wanted
        )


def conversations_read(
    lists: Iterable[tuple[str, Iterable[Mapping[str, Any]]]],
) -> list[Conversation]:
    """The conversations of the export's four lists ((kind, items) pairs)."""
    found: list[Conversation] = []
    for kind, items in lists:
        for item in items:
            slack_id = str(item.get("id") or "")
            if not slack_id:
                continue
            name = str(item.get("name") or "")
            topic = (item.get("topic") or {}).get("value") or (item.get("purpose") or {}).get(
                "value"
            )
            found.append(
                Conversation(
                    slack_id=slack_id,
                    kind=kind,
                    name=name,
                    folder=slack_id if kind == DM else name,
                    members=[str(m) for m in item.get("members") or []],
                    creator=str(item.get("creator") or item.get("user") or ""),
                    topic=str(topic or ""),
                    archived=bool(item.get("is_archived")),
                )
            )
    return found


def _slug_free(name: str, fallback: str) -> str:
    base = slugify(name)[:MAX_SLUG_CHARS].strip("-") or slugify(fallback)[:MAX_SLUG_CHARS]
    slug, number = base, 1
    while Room.objects.filter(slug=slug).exists():
        number += 1
        suffix = f"-{number}"
        slug = base[: MAX_SLUG_CHARS - len(suffix)] + suffix
    return slug


def rooms_import(
    conversations: list[Conversation], people: People, summary: Summary, *, dry_run: bool
) -> None:
    """Map (and, unless `dry_run`, create) each chosen conversation's room, with its
    members; sets room_id, slug and last_ts on each."""
    recorded = {r.slack_id: r for r in SlackImported.objects.filter(kind=SlackImported.Kind.ROOM)}
    ids = [p for p in people.ids.values() if p]
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    for conversation in conversations:
        members = [users[people.ids[m]] for m in conversation.members if people.ids.get(m) in users]
        row = recorded.get(conversation.slack_id)
        if row is not None and (
            slug := Room.objects.filter(pk=row.local_id).values_list("slug", flat=True).first()
        ):
            conversation.room_id, conversation.slug, conversation.last_ts = (
                row.local_id,
                slug,
                row.last_ts,
            )
            summary.matched("rooms")
            if not dry_run and conversation.kind != DM:
                _members_ensure(row.local_id, members)
            continue
        if conversation.kind == DM:
            if len(set(conversation.members)) > 2 or not conversation.members:
                summary.skipped("rooms", "a DM without two members")
                continue
            if not dry_run and len(members) != len(set(conversation.members)):
                summary.skipped("rooms", "a DM with a member not in users.json")
                continue
        creator = users.get(people.ids.get(conversation.creator, 0)) or (
            members[0] if members else None
        )
        if creator is None and not dry_run:
            summary.skipped("rooms", "no creator or member in users.json")
            continue
        summary.created("rooms")
        if dry_run:
            conversation.slug = slugify(conversation.name) or conversation.slack_id.lower()
            continue
        assert creator is not None  # noqa: S101 - checked above outside a dry run
        room = _room_create(conversation, creator, members)
        conversation.room_id, conversation.slug = room.pk, room.slug


@transaction.atomic
def _room_create(conversation: Conversation, creator: User, members: list[User]) -> Room:
    if conversation.kind == DM:
        low, *rest = members
        room = services.dm_open(user=low, other=rest[0] if rest else low)
    else:
        slug = _slug_free(conversation.name, f"slack-{conversation.slack_id}")
        room = services.room_create(
            slug=slug,
            name=(conversation.name or slug)[:MAX_NAME_CHARS],
            topic=plain_convert(conversation.topic)[:MAX_TOPIC_CHARS],
            creator=creator,
            is_private=conversation.kind != PUBLIC,
        )
        _members_ensure(room.pk, members)
        if conversation.archived:
            services.room_lock(room=room, locked=True, actor=creator, reason="archived in Slack")
    SlackImported.objects.create(
        kind=SlackImported.Kind.ROOM, slack_id=conversation.slack_id, local_id=room.pk
    )
    return room


def _members_ensure(room_id: int, members: list[User]) -> None:
    room = Room.objects.get(pk=room_id)
    for user in members:
        services.membership_ensure(room=room, user=user)
