"""The one write path for messages: every message — a socket's send, the API's, a file
or an image, the server's own (system) messages — is saved by `message_post_many`, with
one copy of each rule: body, access, idempotency by client_id, reply, mentions, notify.

Group commit: a process's sends that arrive while the previous batch is being written
share the next transaction: per room one `UPDATE … RETURNING` takes a block of
consecutive seqs, one multi-row INSERT saves the messages, one commit makes them durable
together, and one event publishes them after that commit. A send refused for its own
reasons (bad body, no access, a resend) never fails the others; a failed commit saves
and acknowledges none. A single send is a batch of one (`message_post_one`).
"""

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.selectors import profiles_warm
from chat import events, selectors
from chat.errors import ChatError
from chat.models import Attachment, Message, Room
from chat.protocol.codes import ErrorCode
from chat.selectors import MessageOut
from chat.services.inserting import message_model, message_out_new, messages_insert, new_row
from chat.services.mentioning import Mentioned, mention_rows_add, mentions_find
from chat.services.messages import BAD_REPLY, message_body_clean, replies_check
from chat.services.resends import already_saved as _already_saved
from chat.services.resends import message_by_client_id as message_by_client_id  # re-exported
from chat.services.rich import PostedAs as PostedAs  # re-exported: SendRequest's parts
from chat.services.rich import RichContent as RichContent
from chat.services.rich import rich_html
from chat.services.seqs import SeqBlock, room_seq_blocks
from chat.services.threads import BAD_THREAD, replies_saved, roots_check

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewAttachment:
    """A file already in storage (chat/services/files.py), saved with its message."""

    kind: str  # Attachment.Kind
    file: str  # storage name
    name: str
    content_type: str
    size: int
    thumbnail: str = ""
    width: int = 0  # images only
    height: int = 0
    thumbnail_width: int = 0
    thumbnail_height: int = 0

    def row(self, message: Message, **extra: Any) -> Attachment:
        """The Attachment row for `message` (unsaved): the live path and imports alike."""
        return Attachment(
            message=message,
            kind=self.kind,
            file=self.file,
            thumbnail=self.thumbnail,
            name=self.name,
            content_type=self.content_type,
            size=self.size,
            width=self.width,
            height=self.height,
            thumbnail_width=self.thumbnail_width,
            thumbnail_height=self.thumbnail_height,
            **extra,
        )


@dataclass(frozen=True, slots=True)
class SendRequest:
    room_id: int
    author: User | None  # None: the server's own message (kind "system", no access rules)
    body: str
    client_id: str
    reply_to: int | None = None  # the id of the message of the room it answers
    attachment: NewAttachment | None = None  # a file message (its caption may be empty)
    thread: int | None = None  # a reply in the thread of this root (a message of the room)
    also_to_room: bool = False  # the reply shows in the room's timeline too
    rich: RichContent | None = None
    posted_as: PostedAs | None = None

    @property
    def kind(self) -> str:
        return Message.Kind.SYSTEM if self.author is None else Message.Kind.USER


Outcome = MessageOut | ChatError


def message_post_one(request: SendRequest) -> MessageOut:
    """One send as a batch of one: its saved message (or the stored one, for a resend),
    or ChatError."""
    outcome = message_post_many([request])[0]
    if isinstance(outcome, ChatError):
        raise outcome
    return outcome


def message_post_many(requests: list[SendRequest]) -> list[Outcome]:
    """Save the sends in one transaction: the i-th outcome answers the i-th request (its
    saved message, or the ChatError that refused it). Idempotent per (room, author,
    client_id): a resend returns the stored message and publishes nothing, so a client
    may resend whatever it is unsure about.

    Within one room the requests are numbered in list order. Raises (and saves nothing)
    only when the transaction itself fails."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    fresh: list[int] = []  # indexes of the requests to insert
    first_of: dict[tuple[int, int | None, str], int] = {}  # a client_id repeated in the batch
    repeats: dict[int, int] = {}
    # Every sender's access in one query (one round trip per batch, not per sender).
    access = selectors.access_for_many(
        [(r.room_id, r.author.pk) for r in requests if r.author is not None]
    )
    system_rooms = _rooms_existing({r.room_id for r in requests if r.author is None})
    found: dict[int, Mentioned] = {}
    # The messages replied to, one query for the batch (a bad one fails its send alone).
    answered = replies_check({r.reply_to: r.room_id for r in requests if r.reply_to is not None})
    roots = roots_check({r.thread: r.room_id for r in requests if r.thread is not None})
    for index, request in enumerate(requests):
        key = (request.room_id, _author_id(request), request.client_id)
        if key in first_of:
            repeats[index] = first_of[key]
            continue
        first_of[key] = index
        try:
            _request_check(request, access, system_rooms, answered, roots)
            # Before the transaction: a refused @room fails this send, not the batch, and
            # @here's online lookup (Redis) happens before any row is locked.
            found[index] = mentions_find(
                room_id=request.room_id, author=request.author, body=request.body
            )
        except ChatError as error:
            outcomes[index] = error
            continue
        fresh.append(index)
    # Resends are rare: one lookup for the whole batch finds them before inserting (a
    # refused reply too: its original may have been deleted after it was saved).
    refused = [
        i
        for i, o in enumerate(outcomes)
        if isinstance(o, ChatError) and o.code in (ErrorCode.BAD_REPLY, ErrorCode.BAD_THREAD)
    ]
    for index, existing in _already_saved(requests, fresh + refused).items():
        outcomes[index] = existing
    fresh = [index for index in fresh if outcomes[index] is None]
    if fresh:
        # The authors' profiles for the message objects, one query for the batch and
        # before the transaction (message_out reads them from the cache).
        profiles_warm({a for index in fresh if (a := _author_id(requests[index])) is not None})
        try:
            saved = _insert_many(
                [requests[index] for index in fresh],
                [found[index] for index in fresh],
                [answered.get(requests[index].reply_to or 0) for index in fresh],
                roots,
            )
        except IntegrityError:
            # A resend raced in from another process between the lookup and the insert:
            # the batch rolled back whole; each send goes alone so only that one meets
            # its constraint (and returns the stored message).
            logger.info("batch of %d hit a constraint; saving one by one", len(fresh))
            for index in fresh:
                outcomes[index] = _insert_alone(
                    requests[index],
                    found[index],
                    answered.get(requests[index].reply_to or 0),
                    roots,
                )
        else:
            for index, message in zip(fresh, saved, strict=True):
                outcomes[index] = message
    for index, original in repeats.items():
        outcomes[index] = outcomes[original]
    done: list[Outcome] = []
    for outcome in outcomes:
        assert outcome is not None  # noqa: S101 - every index was answered above
        done.append(outcome)
    return done


def _author_id(request: SendRequest) -> int | None:
    return request.author.pk if request.author is not None else None


def _request_check(
    request: SendRequest,
    access: dict[tuple[int, int], selectors.Access],
    system_rooms: set[int],
    answered: dict[int, Message],
    roots: dict[int, Message],
) -> None:
    """The rules a send must pass before its transaction (ChatError otherwise)."""
    message_body_clean(request.body, allow_empty=request.attachment is not None)
    if request.author is None:
        if request.room_id not in system_rooms:
            raise ChatError(ErrorCode.ROOM_NOT_FOUND, "This room does not exist any more.")
    else:
        allowed = access[(request.room_id, request.author.pk)]
        if not allowed["write"]:
            raise ChatError(allowed["code"] or ErrorCode.FORBIDDEN, allowed["detail"])
    if request.reply_to is not None:
        target = answered.get(request.reply_to)
        if target is None or target.room_id != request.room_id:
            raise ChatError(ErrorCode.BAD_REPLY, BAD_REPLY)
    if request.thread is not None and request.thread not in roots:
        raise ChatError(ErrorCode.BAD_THREAD, BAD_THREAD)


def _rooms_existing(room_ids: set[int]) -> set[int]:
    if not room_ids:
        return set()
    return set(Room.objects.filter(pk__in=room_ids).values_list("pk", flat=True))


def _insert_alone(
    request: SendRequest, mentioned: Mentioned, reply: Message | None, roots: dict[int, Message]
) -> Outcome:
    try:
        return _insert_many([request], [mentioned], [reply], roots)[0]
    except IntegrityError:
        existing = message_by_client_id(
            room_id=request.room_id, author=request.author, client_id=request.client_id
        )
        if existing is None:
            raise
        return existing
    except ChatError as error:
        return error


def notify_needed(block: SeqBlock, mentioned: Mentioned) -> bool:
    """Whether anyone may have to be notified of a new message: someone is mentioned, it
    is a direct conversation, or a member asked for every message of the room."""
    return bool(mentioned.names or mentioned.group or block.notify_all)


@transaction.atomic
def _insert_many(
    requests: list[SendRequest],
    mentioned: list[Mentioned],
    replies: list[Message | None],
    roots: dict[int, Message],
) -> list[MessageOut]:
    # Rendered before the seqs are taken (the rooms' rows stay locked until commit).
    htmls = [
        rich_html(r.body, r.rich, m.names, m.group)
        for r, m in zip(requests, mentioned, strict=True)
    ]
    by_room: dict[int, list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        by_room[request.room_id].append(index)
    seqs = [0] * len(requests)
    blocks = room_seq_blocks({room_id: len(indexes) for room_id, indexes in by_room.items()})
    for room_id, indexes in by_room.items():
        first = blocks[room_id].last - len(indexes) + 1
        for offset, index in enumerate(indexes):
            seqs[index] = first + offset
    now = timezone.now()
    rows = [
        new_row(r, seq, m, reply, html)
        for r, seq, m, reply, html in zip(requests, seqs, mentioned, replies, htmls, strict=True)
    ]
    ids = messages_insert(rows, now)
    # Model instances only where a follow-up takes one (mentions, threads, files: rare).
    models = {
        index: message_model(row, ids[index], now)
        for index, (row, request, found) in enumerate(zip(rows, requests, mentioned, strict=True))
        if found.names or found.group or row.thread_id is not None or request.attachment
    }
    attachments = _attachments_add(models, requests)
    notify: list[events.NotifyItem] = []
    for index, (row, found) in enumerate(zip(rows, mentioned, strict=True)):
        if found.names or found.group:
            mention_rows_add(models[index], found)
        # A thread's reply: its followers may need telling (notify/ reads them).
        if notify_needed(blocks[row.room_id], found) or row.thread_id is not None:
            notify.append({"message_id": ids[index], "users": None})
    created_at = now.isoformat()
    payloads = [
        message_out_new(
            row,
            message_id,
            room_slug=blocks[row.room_id].slug,
            author=request.author.get_username() if request.author is not None else None,
            created_at=created_at,
            reply_to=reply,
            attachment=attachments.get(index),
        )
        for index, (row, message_id, request, reply) in enumerate(
            zip(rows, ids, requests, replies, strict=True)
        )
    ]
    # Published in seq order per room, all after the one commit.
    ordered = sorted(
        ((row.room_id, payload) for row, payload in zip(rows, payloads, strict=True)),
        key=lambda item: (item[0], item[1]["seq"]),
    )
    events.publish_on_commit(events.messages_saved(ordered))
    # Replies: their threads' summaries and followers, in this transaction (their
    # frames are published after the messages').
    threaded = [i for i, row in enumerate(rows) if row.thread_id is not None]
    if threaded:
        replies_saved(
            [models[i] for i in threaded],
            [payloads[i]["author"] for i in threaded],
            [mentioned[i] for i in threaded],
            roots,
            {room_id: block.slug for room_id, block in blocks.items()},
        )
    # One notification job for the whole batch (only if someone may need telling).
    events.notify_on_commit(notify)
    # Outgoing webhooks' job, queued in this transaction (only where one watches).
    events.hooks_request([ids[i] for i, row in enumerate(rows) if blocks[row.room_id].hooks])
    return payloads


def _attachments_add(
    models: dict[int, Message], requests: list[SendRequest]
) -> dict[int, Attachment]:
    """The attachments of the file messages of the batch (by index), one INSERT."""
    wanted = {
        index: new.row(models[index])
        for index, request in enumerate(requests)
        if (new := request.attachment) is not None
    }
    if wanted:
        Attachment.objects.bulk_create(list(wanted.values()))
    return wanted


def message_post(
    *, room_id: int, author: User, body: str, client_id: str, reply_to: int | None = None
) -> MessageOut:
    """Save a user's message (message_post_many's rules) from sync code that is not an
    event loop's (management commands, tests, sync views without one)."""
    return message_post_one(
        SendRequest(
            room_id=room_id, author=author, body=body, client_id=client_id, reply_to=reply_to
        )
    )


def message_post_system(*, room_id: int, body: str, client_id: str = "") -> MessageOut:
    """Post a system message (kind "system", no author) into a room: every connected
    client sees it live, on every process. No access rules apply: the caller is the
    server itself. ChatError for an empty or too long body or a room that does not
    exist (`room_not_found`)."""
    return message_post_one(
        SendRequest(
            room_id=room_id, author=None, body=body, client_id=client_id or uuid.uuid4().hex
        )
    )


async def message_post_async(
    *, room_id: int, author: User, body: str, client_id: str
) -> MessageOut:
    """message_post for async code (an async view, task or consumer)."""
    result: MessageOut = await database_sync_to_async(message_post)(
        room_id=room_id, author=author, body=body, client_id=client_id
    )
    return result


async def message_post_system_async(*, room_id: int, body: str, client_id: str = "") -> MessageOut:
    """message_post_system for async code."""
    result: MessageOut = await database_sync_to_async(message_post_system)(
        room_id=room_id, body=body, client_id=client_id
    )
    return result
