"""The rows of a batch of new messages (chat/services/posting.py's `_insert_many`): one
INSERT, and each saved message's object built from what was inserted, without reading
it back or building a model instance per row. No rules here: posting.py checks them.

On PostgreSQL the rows travel as one JSON parameter unpacked by the statement itself
(`json_array_elements`); elsewhere (SQLite) through Django's bulk_create.
"""

import json
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from django.db import connection

from chat.models import Attachment, Message
from chat.selectors import MessageOut, attachment_out, user_profile
from chat.selectors.message_rows import reply_out
from chat.services.mentioning import Mentioned
from chat.services.rich import posted_as_columns

if TYPE_CHECKING:
    from chat.services.posting import SendRequest


class NewRow(NamedTuple):
    """A message row to insert, in the order of `_COLUMNS`."""

    room_id: int
    seq: int
    kind: str
    author_id: int | None
    body: str
    mentions: list[str]
    group_mention: str
    html: str
    reply_to_id: int | None
    thread_id: int | None
    also_to_room: bool
    as_name: str
    as_avatar: str
    as_emoji: str
    client_id: str


_COLUMNS = NewRow._fields
# Each field read out of its JSON array element (r->>n is text, or NULL for null).
_CASTS = (
    "::bigint",
    "::bigint",
    "",
    "::integer",
    "",
    None,  # mentions: the JSON array itself
    "",
    "",
    "::bigint",
    "::bigint",
    "::boolean",
    "",
    "",
    "",
    "",
)


def _insert_sql() -> str:
    table = connection.ops.quote_name(Message._meta.db_table)
    values = ", ".join(
        f"(r->{n})::jsonb" if cast is None else f"(r->>{n}){cast}" for n, cast in enumerate(_CASTS)
    )
    # Only names from the model are interpolated; the rows and the time are parameters.
    return (
        f"INSERT INTO {table} ({', '.join(_COLUMNS)}, created_at)"  # noqa: S608
        f" SELECT {values}, %s FROM json_array_elements(%s::json) AS r"
        " RETURNING id, room_id, seq"
    )


def new_row(
    request: "SendRequest", seq: int, found: Mentioned, reply: Message | None, html: str
) -> NewRow:
    """The row of a checked send, with its seq, mentions, reply and rendered html."""
    look = posted_as_columns(request.posted_as, request.author)
    return NewRow(
        room_id=request.room_id,
        seq=seq,
        kind=str(request.kind),
        author_id=request.author.pk if request.author is not None else None,
        body=request.body,
        mentions=list(found.names),
        group_mention=found.group,
        html=html,
        reply_to_id=reply.pk if reply is not None else None,
        thread_id=request.thread,
        also_to_room=request.also_to_room and request.thread is not None,
        as_name=look.get("as_name", ""),
        as_avatar=look.get("as_avatar", ""),
        as_emoji=look.get("as_emoji", ""),
        client_id=request.client_id,
    )


def messages_insert(rows: list[NewRow], created_at: datetime) -> list[int]:
    """Insert the rows (in the caller's transaction); their ids, in the rows' order."""
    if connection.vendor != "postgresql":
        saved = Message.objects.bulk_create(
            [Message(**row._asdict(), created_at=created_at) for row in rows]
        )
        return [message.pk for message in saved]
    # One parameter for the whole batch: psycopg dumps a Python list into an array
    # parameter element by element in Python (~3 µs an element, measured: a 50-row batch
    # of 15 array columns cost ~2 ms of client CPU), while json.dumps is C (~1.3 µs a
    # row), and Django's bulk_create adds a get_db_prep_save per field on top.
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_sql(),
            [created_at, json.dumps(rows, ensure_ascii=False, separators=(",", ":"))],
        )
        ids = {(int(room), int(seq)): int(pk) for pk, room, seq in cursor.fetchall()}
    return [ids[(row.room_id, row.seq)] for row in rows]


def message_out_new(
    row: NewRow,
    message_id: int,
    *,
    room_slug: str,
    author: str | None,
    created_at: str,
    reply_to: Message | None,
    attachment: Attachment | None,
) -> MessageOut:
    """What chat.selectors.message_out gives for this row once saved (the same keys, in
    the same order; tests/test_services.py compares them), from the row itself."""
    profile = user_profile(row.author_id) if row.author_id is not None else None
    if profile is None:
        name, avatar, bot = None, None, False
    else:
        bot = profile["author_bot"]
        name = (bot and row.as_name) or profile["display_name"]
        avatar = (bot and row.as_avatar) or profile["avatar"]
    return {
        "id": message_id,
        "room": room_slug,
        "seq": row.seq,
        "author": author,
        "author_display_name": name,
        "author_avatar": avatar,
        "author_bot": bot,
        "author_icon_emoji": row.as_emoji or None,
        "body": row.body,
        "html": row.html,
        "reply_to": reply_out(reply_to) if reply_to is not None else None,
        "created_at": created_at,
        "client_id": row.client_id,
        "edited_at": None,
        "kind": row.kind,
        "attachment": attachment_out(attachment) if attachment is not None else None,
        "mentions": list(row.mentions),
        "group_mention": row.group_mention or None,
        "reactions": [],
        "thread": row.thread_id,
        "also_to_room": row.also_to_room,
        "thread_summary": None,
        "deleted": False,
    }


def message_model(row: NewRow, message_id: int, created_at: datetime) -> Message:
    """The saved row as a model instance, for the rarer follow-ups that take one
    (mention rows, a reply's thread, an attachment)."""
    message = Message(**row._asdict(), created_at=created_at)
    message.pk = message_id
    message._state.adding = False
    message._state.db = connection.alias
    return message
