"""The messages of each conversation, in ts order, written through the one bulk
history writer (chat/services/importing.py). Idempotent: a conversation's SlackImported
row keeps the newest ts imported, updated in the same transaction as each chunk of
messages, so after a rerun or an interruption only what is newer goes in. Memory: one
day file's messages, one chunk of rows, and the ids of thread roots (not of every
message) for the conversation at hand."""

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from chat.models import Attachment, Message
from chat.services.files import content_type_clean, file_name_clean
from chat.services.importing import HistoryRow, ImportedReaction, batch_rows, history_import
from chat.services.posting import NewAttachment
from dataport.models import SlackImported
from dataport.slack.archive import SlackArchive
from dataport.slack.convert import Names, reaction_emoji, text_convert, ts_decimal, ts_time
from dataport.slack.people import People, bot_for_message
from dataport.slack.rooms import Conversation
from dataport.slack.summary import Progress, Summary

SKIPPED_SUBTYPES = {
    "channel_join": "join/leave",
    "channel_leave": "join/leave",
    "group_join": "join/leave",
    "group_leave": "join/leave",
    "tombstone": "deleted in Slack",
}
GONE_FILE_MODES = ("tombstone", "hidden_by_limit")
CLIENT_ID_PREFIX = "import:"  # importing.py's default client_id for a row's key


@dataclass
class Context:
    archive: SlackArchive
    people: People
    names: Names
    summary: Summary
    progress: Progress
    dry_run: bool


@dataclass
class _Conversation:
    room_id: int
    known: dict[str, int] = field(default_factory=dict)  # thread root ts -> message id
    roots: set[str] = field(default_factory=set)  # ts of messages that start a thread


def messages_import(conversation: Conversation, ctx: Context) -> None:
    """Import one conversation's messages (those newer than its last_ts)."""
    state = _Conversation(conversation.room_id)
    after = ts_decimal(conversation.last_ts) if conversation.last_ts else None
    chunk: list[HistoryRow] = []
    size = batch_rows()
    for row in _rows(conversation, ctx, after, state):
        chunk.append(row)
        if len(chunk) >= size:
            _write(conversation, chunk, state, ctx)
            chunk = []
    if chunk:
        _write(conversation, chunk, state, ctx)


def _rows(
    conversation: Conversation, ctx: Context, after: Decimal | None, state: _Conversation
) -> Iterator[HistoryRow]:
    seen_last: Decimal | None = None
    for day in ctx.archive.days(conversation.folder):
        # A day file holds one conversation's day: small enough to sort (Slack writes
        # them in order; sorting makes sure, as seqs follow ts).
        dated: list[tuple[Decimal, dict[str, Any]]] = []
        for item in ctx.archive.messages(day):
            ts = ts_decimal(item.get("ts")) if isinstance(item, dict) else None
            if ts is None:
                ctx.summary.skipped("messages", "no ts")
                continue
            dated.append((ts, item))
        dated.sort(key=lambda pair: pair[0])
        count = 0
        for ts, item in dated:
            subtype = str(item.get("subtype") or "")
            if subtype in SKIPPED_SUBTYPES:  # before the mark: a rerun counts them alike
                ctx.summary.skipped("messages", SKIPPED_SUBTYPES[subtype])
                continue
            if after is not None and ts <= after:
                ctx.summary.matched("messages")
                continue
            if seen_last is not None and ts <= seen_last:
                ctx.summary.skipped("messages", "the same ts twice")
                continue
            row = _row(ts, item, ctx, state)
            if row is not None:
                seen_last = ts
                count += 1
                yield row
        ctx.progress.advance(day.size, count)


def _row(
    ts: Decimal, item: Mapping[str, Any], ctx: Context, state: _Conversation
) -> HistoryRow | None:
    subtype = str(item.get("subtype") or "")
    author_id, as_name = _author(item, ctx)
    if author_id is None:
        ctx.summary.skipped("messages", "an author not in users.json")
        return None
    key = str(item.get("ts"))
    body = text_convert(str(item.get("text") or ""), ctx.names)
    attachment, links = _files(item, state.room_id, ctx)
    if links:
        body = "\n".join([body, *links]) if body else "\n".join(links)
    if not body.strip() and attachment is None:
        ctx.summary.skipped("messages", "empty")
        return None
    thread_ts = str(item.get("thread_ts") or "")
    root_key = thread_ts if thread_ts and thread_ts != key else None
    if thread_ts == key or item.get("reply_count") or item.get("replies"):
        state.roots.add(key)  # its id is kept for its replies (importing.py's `known`)
        if item.get("reply_count") or item.get("replies"):
            ctx.summary.created("threads")
    edited = item.get("edited") or {}
    edited_ts = ts_decimal(edited.get("ts")) if isinstance(edited, dict) else None
    ctx.summary.created("messages")
    return HistoryRow(
        key=key,
        author_id=author_id or None,
        body=body,
        created_at=ts_time(ts),
        edited_at=ts_time(edited_ts) if edited_ts is not None else None,
        thread_root_key=root_key,
        also_to_room=subtype == "thread_broadcast",
        attachment=attachment,
        reactions=_reactions(item, ts, ctx),
        as_name=as_name[:80],
    )


def _author(item: Mapping[str, Any], ctx: Context) -> tuple[int | None, str]:
    """(the author's id here, a bot's shown name) or (None, "") when unknown. In a dry
    run an account that would be created has id 0."""
    user = str(item.get("user") or "")
    if user and user in ctx.people.ids:
        return ctx.people.ids[user], ""
    bot_id = str(item.get("bot_id") or "")
    if bot_id:
        shown = str(item.get("username") or (item.get("bot_profile") or {}).get("name") or "")
        bot_for_message(bot_id, shown, ctx.people, ctx.summary, dry_run=ctx.dry_run)
        return ctx.people.ids[bot_id], shown
    return None, ""


def _reactions(item: Mapping[str, Any], ts: Decimal, ctx: Context) -> tuple[ImportedReaction, ...]:
    found: list[ImportedReaction] = []
    for reaction in item.get("reactions") or []:
        name = str(reaction.get("name") or "")
        users = [str(u) for u in reaction.get("users") or []]
        mapped = reaction_emoji(name)
        if mapped is None:
            ctx.summary.skipped("reactions", "no such emoji here", len(users))
            ctx.summary.unknown_reactions[name] += len(users)
            continue
        for user in users:
            user_id = ctx.people.ids.get(user)
            if user_id is None:
                ctx.summary.skipped("reactions", "a person not in users.json")
                continue
            ctx.summary.created("reactions")
            found.append(ImportedReaction(user_id=user_id, emoji=mapped))
    return tuple(found)


def _files(
    item: Mapping[str, Any], room_id: int, ctx: Context
) -> tuple[NewAttachment | None, list[str]]:
    """The first file the export holds as the message's attachment (a message has at
    most one here); every other file as a link line."""
    attachment: NewAttachment | None = None
    links: list[str] = []
    for file in item.get("files") or []:
        name = file_name_clean(str(file.get("name") or file.get("title") or "file"))
        if file.get("mode") in GONE_FILE_MODES:
            ctx.summary.skipped("files", "deleted or hidden in Slack")
            continue
        info = ctx.archive.upload(str(file.get("id") or ""), str(file.get("name") or ""))
        if (
            attachment is None
            and info is not None
            and info.file_size <= settings.CHAT_FILE_MAX_BYTES
        ):
            ctx.summary.created("files")
            if ctx.dry_run:
                attachment = NewAttachment(
                    kind=Attachment.Kind.FILE, file="", name=name, content_type="", size=0
                )
                continue
            with ctx.archive.open(info) as stream:
                stored = default_storage.save(
                    f"attachments/{room_id}/{uuid.uuid4().hex}", File(stream)
                )
            attachment = NewAttachment(
                kind=Attachment.Kind.FILE,
                file=stored,
                name=name,
                content_type=content_type_clean(file.get("mimetype"), name),
                size=info.file_size,
            )
            continue
        url = str(file.get("url_private") or file.get("permalink") or "")
        if url.startswith(("http://", "https://")):
            ctx.summary.skipped("files", "not in the export: linked")
            links.append(f"[{_link_text(name)}](<{url.replace('>', '%3E')}>)")
        else:
            ctx.summary.skipped("files", "not in the export, no address")
    return attachment, links


_MARKS: dict[str, str | int | None] = {c: "\\" + c for c in "\\`*_~[]<>|"}
_ESCAPE = str.maketrans(_MARKS)


def _link_text(text: str) -> str:
    """A file name as a link's label: Markdown's marks escaped."""
    return text.translate(_ESCAPE)


def _write(
    conversation: Conversation, chunk: list[HistoryRow], state: _Conversation, ctx: Context
) -> None:
    if ctx.dry_run:
        return
    missing = {
        r.thread_root_key
        for r in chunk
        if r.thread_root_key is not None and r.thread_root_key not in state.known
    } - {r.key for r in chunk}
    if missing:  # roots imported by an earlier run
        found = Message.objects.filter(
            room_id=state.room_id, client_id__in=[CLIENT_ID_PREFIX + k for k in missing]
        ).values_list("client_id", "pk")
        state.known.update(
            (client_id.removeprefix(CLIENT_ID_PREFIX), pk) for client_id, pk in found
        )
    # One transaction: the messages and the mark of how far this conversation got.
    with transaction.atomic():
        ids = history_import(state.room_id, chunk, state.known)
        SlackImported.objects.filter(
            kind=SlackImported.Kind.ROOM, slack_id=conversation.slack_id
        ).update(last_ts=chunk[-1].key)
    state.known.update((key, ids[key]) for key in state.roots if key in ids)
    state.roots.difference_update(ids)
