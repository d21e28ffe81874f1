"""The one bulk writer of history: imported messages (a Slack export, a chat_import
archive) are not live sends. They keep their own times, take the room's next seqs in the
order given, are saved with multi-row INSERTs in short transactions, and publish nothing
and notify nobody: imported history is read for everyone. What the live path
(posting.py) keeps consistent is kept here too: Room.last_seq, mention rows, thread
summaries and followers, reactions, attachments, edits, read pointers. Search needs no
work: PostgreSQL's index is on an expression of the body, SQLite's FTS5 table is filled
by chat_message's insert trigger (chat/search/schema.py).

Nothing here checks access or limits: the caller (a management command run by the
operator) decides what history is. Never call it for a live send.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Lower

from chat.content import emoji, mentions
from chat.content.threads import participants_after
from chat.models import (
    Attachment,
    Membership,
    Mention,
    Message,
    MessageEdit,
    Reaction,
    Room,
    Thread,
    ThreadFollow,
)
from chat.services.importing_files import attachment_store as attachment_store  # re-exported
from chat.services.posting import NewAttachment
from chat.services.rich import rich_html

logger = logging.getLogger(__name__)

# Rows per transaction: large enough that a million messages is a few hundred INSERTs on
# PostgreSQL, small enough that the room's row (the seq lock) is held for well under a
# second. SQLite holds its one write lock per batch: smaller ones let live sends in.
PG_BATCH_ROWS = 5000
SQLITE_BATCH_ROWS = 1000
MAX_CLIENT_ID_CHARS = 64


@dataclass(frozen=True, slots=True)
class EarlierText:
    """An earlier version of a message's body (MessageEdit): what it said until `until`."""

    body: str
    until: datetime


@dataclass(frozen=True, slots=True)
class ImportedReaction:
    user_id: int
    emoji: str  # must be one of chat.content.emoji's (others are skipped and logged)
    created_at: datetime | None = None  # None: the message's time


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One message of history. `key` is the caller's id for it (a Slack ts, an exported
    message id); threads and replies name their root/original by that key, found among
    this call's rows or in `known` (earlier calls' results)."""

    key: str
    author_id: int | None  # None only with kind "system"
    body: str
    created_at: datetime
    kind: str = Message.Kind.USER
    edited_at: datetime | None = None
    deleted_at: datetime | None = None  # kept to hold its seq, never shown
    thread_root_key: str | None = None  # a reply in that root's thread
    also_to_room: bool = False
    reply_to_key: str | None = None  # a quote of that message
    client_id: str = ""  # "" -> "import:<key>" (unique per room and author)
    # An explicit seq (> the room's last seq and above the previous row's): a source with
    # gaps (retention removed its oldest messages) keeps its numbering. None: the next.
    seq: int | None = None
    attachment: NewAttachment | None = None  # a file already in storage
    reactions: tuple[ImportedReaction, ...] = ()
    edits: tuple[EarlierText, ...] = ()
    as_name: str = ""  # a bot's shown name/avatar (Message.as_*)
    as_avatar: str = ""
    as_emoji: str = ""
    # The usernames the body named as its source saw them; None: found in the body
    # among the room's members now.
    mentions: tuple[str, ...] | None = field(default=None)


def batch_rows() -> int:
    return PG_BATCH_ROWS if connection.vendor == "postgresql" else SQLITE_BATCH_ROWS


def history_import(
    room_id: int, rows: Iterable[HistoryRow], known: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Append `rows` (oldest first) to the room's history; returns each row's key -> the
    saved message's id. Streams: `rows` is read one batch at a time, and each batch is
    its own transaction. A thread or reply key found nowhere makes the row a plain
    top-level message (logged): the source lost its original. Members' read pointers
    (room and threads) end at the last imported seq."""
    ids: dict[str, int] = {}
    roots: set[int] = set()  # the threads this call added replies to
    members = _members(room_id)
    iterator = iter(rows)
    while batch := list(islice(iterator, batch_rows())):
        ids.update(_batch_save(room_id, batch, members, ids, known or {}, roots))
    if ids:
        _pointers_to_end(room_id, roots)
    return ids


def _members(room_id: int) -> dict[str, tuple[str, int]]:
    """The room's members by lowercased username -> (spelling, id): mentions resolve
    against it for every batch without a query per message."""
    found = Membership.objects.filter(room_id=room_id).values_list("user__username", "user_id")
    return {name.lower(): (name, user_id) for name, user_id in found}


def _user_ids(lowered: set[str]) -> dict[str, int]:
    if not lowered:
        return {}
    found = User.objects.annotate(name=Lower("username")).filter(name__in=lowered)
    return dict(found.values_list("name", "pk"))


def _named_ids(
    names: list[str], members: dict[str, tuple[str, int]], others: dict[str, int]
) -> list[int]:
    ids: list[int] = []
    for name in names:
        lower = name.lower()
        user_id = members[lower][1] if lower in members else others.get(lower)
        if user_id is not None:
            ids.append(user_id)
    return ids


def _resolve(key: str, *maps: Mapping[str, int]) -> int | None:
    for found in maps:
        if key in found:
            return found[key]
    return None


@transaction.atomic
def _batch_save(
    room_id: int,
    batch: list[HistoryRow],
    members: dict[str, tuple[str, int]],
    ids: Mapping[str, int],
    known: Mapping[str, int],
    roots: set[int],
) -> dict[str, int]:
    seqs = _seqs_take(room_id, batch)
    spelled = {lower: name for lower, (name, _) in members.items()}
    messages: list[Message] = []
    named_of: list[list[int]] = []
    # Names given by the source are kept as they are (a member named then may have
    # left since); their rows go to whoever still has that name here.
    given = {n.lower() for row in batch for n in row.mentions or () if n.lower() not in members}
    others = _user_ids(given)
    for row, seq in zip(batch, seqs, strict=True):
        if row.mentions is not None:
            names = list(row.mentions)
        else:
            names = mentions.mentions_resolve(row.body, spelled) if "@" in row.body else []
        group = mentions.group_mention(row.body) if "@" in row.body else ""
        messages.append(
            Message(
                room_id=room_id,
                seq=seq,
                kind=row.kind,
                author_id=row.author_id,
                body=row.body,
                mentions=names,
                group_mention=group,
                html=rich_html(row.body, None, names, group),
                as_name=row.as_name,
                as_avatar=row.as_avatar,
                as_emoji=row.as_emoji,
                client_id=(row.client_id or f"import:{row.key}")[:MAX_CLIENT_ID_CHARS],
                created_at=row.created_at,
                edited_at=row.edited_at,
                deleted_at=row.deleted_at,
            )
        )
        named_of.append(_named_ids(names, members, others))
    saved = _insert_linked(messages, batch, ids, known)
    by_key = {row.key: m for row, m in zip(batch, messages, strict=True)}
    _mentions_add(messages, named_of)
    _edits_add(batch, by_key)
    _reactions_add(batch, by_key)
    _attachments_add(batch, by_key)
    replies = [m for m in messages if m.thread_id is not None and m.deleted_at is None]
    _threads_add(replies)
    roots.update(m.thread_id for m in replies if m.thread_id is not None)
    return saved


def _insert_linked(
    messages: list[Message],
    batch: list[HistoryRow],
    ids: Mapping[str, int],
    known: Mapping[str, int],
) -> dict[str, int]:
    """One INSERT for the batch, then its threads and quotes linked: those pointing
    into earlier batches or calls are set before the INSERT, those pointing into this
    batch (ids unknown until it is saved) by one UPDATE each after it. Cutting the
    batch at every such link instead cost an INSERT per thread (slack threads are
    short and close together)."""
    keys = {row.key for row in batch}
    threads_late: list[int] = []
    replies_late: list[int] = []
    for index, (message, row) in enumerate(zip(messages, batch, strict=True)):
        if row.thread_root_key is not None:
            message.thread_id = _resolve(row.thread_root_key, ids, known)
            if message.thread_id is None and row.thread_root_key in keys:
                threads_late.append(index)
            elif message.thread_id is None:
                logger.info("import: thread root %s not found", row.thread_root_key)
            message.also_to_room = row.also_to_room and message.thread_id is not None
        if row.reply_to_key is not None:
            message.reply_to_id = _resolve(row.reply_to_key, ids, known)
            if message.reply_to_id is None and row.reply_to_key in keys:
                replies_late.append(index)
    Message.objects.bulk_create(messages)
    saved = {row.key: message.pk for row, message in zip(batch, messages, strict=True)}
    for index in threads_late:
        root_key = batch[index].thread_root_key
        messages[index].thread_id = saved[root_key] if root_key is not None else None
        messages[index].also_to_room = batch[index].also_to_room
    for index in replies_late:
        reply_key = batch[index].reply_to_key
        messages[index].reply_to_id = saved[reply_key] if reply_key is not None else None
    _links_set("thread_id", [(messages[i].pk, messages[i].thread_id) for i in threads_late])
    _links_set("reply_to_id", [(messages[i].pk, messages[i].reply_to_id) for i in replies_late])
    also = [messages[i].pk for i in threads_late if messages[i].also_to_room]
    if also:
        Message.objects.filter(pk__in=also).update(also_to_room=True)
    return saved


def _links_set(column: str, links: list[tuple[int, int | None]]) -> None:
    """Set `column` (a constant of this module) of these messages in one statement."""
    if not links:
        return
    table = connection.ops.quote_name(Message._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(links))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = v.column2 FROM (VALUES {values}) AS v"  # noqa: S608 - names from the model and this module
            f" WHERE {table}.id = v.column1",
            [value for link in links for value in link],
        )


def _seqs_take(room_id: int, batch: list[HistoryRow]) -> list[int]:
    """The batch's seqs, taken from Room.last_seq under the room's row lock (live sends
    to the room wait for this batch's commit, as they wait for each other's)."""
    last = Room.objects.select_for_update().values_list("last_seq", flat=True).get(pk=room_id)
    seqs: list[int] = []
    for row in batch:
        wanted = row.seq if row.seq is not None else last + 1
        if wanted <= last:
            raise ValueError(f"seq {wanted} of {row.key!r} is not above the room's {last}")
        seqs.append(wanted)
        last = wanted
    Room.objects.filter(pk=room_id).update(last_seq=last)
    return seqs


def room_last_seq_raise(room_id: int, seq: int) -> None:
    """Move the room's last seq up to `seq` (never down): a source whose newest seqs
    were used by messages gone since keeps its numbering for what comes next."""
    Room.objects.filter(pk=room_id, last_seq__lt=seq).update(last_seq=seq)
    Membership.objects.filter(room_id=room_id, last_read_seq__lt=seq).update(last_read_seq=seq)


def _mentions_add(messages: list[Message], named_of: list[list[int]]) -> None:
    # @room has no rows (read state counts it for every member); @here in history
    # has none either: nobody was online "then" in this server.
    Mention.objects.bulk_create(
        [
            Mention(message_id=m.pk, user_id=user_id, room_id=m.room_id, seq=m.seq)
            for m, named in zip(messages, named_of, strict=True)
            if m.group_mention != mentions.ROOM
            for user_id in named
        ],
        ignore_conflicts=True,
    )


def _edits_add(batch: list[HistoryRow], by_key: dict[str, Message]) -> None:
    MessageEdit.objects.bulk_create(
        [
            MessageEdit(message_id=by_key[row.key].pk, body=e.body, edited_at=e.until)
            for row in batch
            for e in row.edits
        ]
    )


def _reactions_add(batch: list[HistoryRow], by_key: dict[str, Message]) -> None:
    reactions_import(
        (by_key[row.key].pk, r.user_id, r.emoji, r.created_at or row.created_at)
        for row in batch
        for r in row.reactions
    )


def reactions_import(items: Iterable[tuple[int, int, str, datetime]]) -> int:
    """Save reactions (message id, user id, emoji, time) as they were; an emoji that is
    not one of ours is skipped (mapping a source's names is the caller's: see
    chat/content/shortcodes.py). A reaction already there is kept. Returns how many
    were offered with a valid emoji. No frame: history is not live."""
    rows: list[Reaction] = []
    for message_id, user_id, text, at in items:
        clean = emoji.emoji_clean(text)
        if clean is None:
            logger.info("import: reaction %r on message %s skipped", text, message_id)
            continue
        rows.append(Reaction(message_id=message_id, user_id=user_id, emoji=clean, created_at=at))
    Reaction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=batch_rows())
    return len(rows)


def _attachments_add(batch: list[HistoryRow], by_key: dict[str, Message]) -> None:
    Attachment.objects.bulk_create(
        [
            Attachment(
                message_id=by_key[row.key].pk,
                kind=new.kind,
                file=new.file,
                thumbnail=new.thumbnail,
                name=new.name,
                content_type=new.content_type,
                size=new.size,
                width=new.width,
                height=new.height,
                thumbnail_width=new.thumbnail_width,
                thumbnail_height=new.thumbnail_height,
                created_at=row.created_at,
            )
            for row in batch
            if (new := row.attachment) is not None
        ]
    )


def _threads_add(replies: list[Message]) -> None:
    """The summaries of the threads these (visible) replies belong to, and who follows
    them: the root's author, the repliers, the people they @named, as posting.py does."""
    if not replies:
        return
    by_root: dict[int, list[Message]] = defaultdict(list)
    for reply in replies:
        assert reply.thread_id is not None  # noqa: S101 - filtered by the caller
        by_root[reply.thread_id].append(reply)
    author_ids = {r.author_id for r in replies if r.author_id is not None}
    root_authors = dict(Message.objects.filter(pk__in=list(by_root)).values_list("pk", "author_id"))
    names = dict(User.objects.filter(pk__in=author_ids).values_list("pk", "username"))
    existing = {
        t.root_id: t for t in Thread.objects.select_for_update().filter(root_id__in=list(by_root))
    }
    created: list[Thread] = []
    follows: set[tuple[int, int]] = set()
    for root_id, group in by_root.items():
        thread = existing.get(root_id)
        if thread is None:
            thread = Thread(root_id=root_id, room_id=group[0].room_id)
            created.append(thread)
        thread.replies += len(group)
        thread.last_reply_at = group[-1].created_at
        thread.last_seq = group[-1].seq
        thread.participants = participants_after(
            list(thread.participants), [names[r.author_id] for r in group if r.author_id in names]
        )
        if (owner := root_authors.get(root_id)) is not None:
            follows.add((root_id, owner))
        for reply in group:
            if reply.author_id is not None:
                follows.add((root_id, reply.author_id))
    Thread.objects.bulk_create(created)
    changed = [t for t in existing.values() if t.root_id in by_root]
    Thread.objects.bulk_update(changed, ["replies", "last_reply_at", "last_seq", "participants"])
    named = Mention.objects.filter(message_id__in=[r.pk for r in replies]).values_list(
        "message__thread_id", "user_id"
    )
    follows.update((root, user) for root, user in named if root is not None)
    ThreadFollow.objects.bulk_create(
        [ThreadFollow(thread_id=root, user_id=user) for root, user in follows],
        ignore_conflicts=True,
    )


def _pointers_to_end(room_id: int, roots: set[int]) -> None:
    """Imported history is read: every member's room pointer, and every follower's
    pointer in the threads this call added to, at the newest seq (only ever forward).
    Only those threads: an importer calling once per day of history must not rewrite
    every follow of the room each time."""
    with transaction.atomic():
        last = Room.objects.values_list("last_seq", flat=True).get(pk=room_id)
        Membership.objects.filter(room_id=room_id, last_read_seq__lt=last).update(
            last_read_seq=last
        )
        newest = Thread.objects.filter(root_id=OuterRef("thread_id")).values("last_seq")[:1]
        touched = sorted(roots)
        for start in range(0, len(touched), SQLITE_BATCH_ROWS):
            ThreadFollow.objects.filter(
                thread_id__in=touched[start : start + SQLITE_BATCH_ROWS]
            ).update(last_read_seq=Subquery(newest))
