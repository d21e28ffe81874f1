"""Resends: a send whose (room, author, client_id) is already saved gets the stored
message back (chat/services/posting.py asks before inserting, and after a constraint)."""

import contextlib
import json
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.db import connection

from chat.models import Attachment, Message
from chat.selectors import MessageOut, message_out

if TYPE_CHECKING:
    from chat.services.posting import SendRequest


def _author_id(request: "SendRequest") -> int | None:
    return request.author.pk if request.author is not None else None


def message_by_client_id(*, room_id: int, author: User | None, client_id: str) -> MessageOut | None:
    """The message this author already saved in the room with this client_id, if any."""
    if author is None:
        return None  # the server's own messages are not resent
    found = (
        Message.objects.filter(room_id=room_id, author=author, client_id=client_id)
        .select_related("room", "attachment", "reply_to__author")
        .first()
    )
    if found is None:
        return None
    attachment = None
    with contextlib.suppress(Attachment.DoesNotExist):
        attachment = found.attachment
    return message_out(
        found, room_slug=found.room.slug, author=author.get_username(), attachment=attachment
    )


def already_saved(requests: "list[SendRequest]", indexes: list[int]) -> dict[int, MessageOut]:
    keys = list(
        dict.fromkeys(
            (requests[i].room_id, author, requests[i].client_id)
            for i in indexes
            if (author := _author_id(requests[i])) is not None
        )
    )
    if not keys:
        return {}
    # One join of the keys (a VALUES list) to the (room, author, client_id) unique index:
    # an OR of a Q per send cost more to build than to run (13.7 % of a batch's time in
    # the profile). A join, not a row-value IN: SQLite scans the whole index for that.
    table = connection.ops.quote_name(Message._meta.db_table)
    params: list[int | str]
    if connection.vendor == "postgresql":
        # One JSON parameter (a fixed statement psycopg parses once, see seqs.py).
        source = (
            "SELECT (e->>0)::bigint AS column1, (e->>1)::integer AS column2,"
            " e->>2 AS column3 FROM json_array_elements(%s::json) e"
        )
        params = [json.dumps(keys, ensure_ascii=False)]
    else:
        source = "VALUES " + ", ".join(["(%s, %s, %s)"] * len(keys))
        params = [value for key in keys for value in key]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.room_id, m.author_id, m.client_id FROM ({source}) AS v"  # noqa: S608 - table name from the model
            f" JOIN {table} m ON m.room_id = v.column1 AND m.author_id = v.column2"
            " AND m.client_id = v.column3",
            params,
        )
        found = {(int(r), int(a), str(c)) for r, a, c in cursor.fetchall()}
    out: dict[int, MessageOut] = {}
    for index in indexes:
        request = requests[index]
        if (request.room_id, _author_id(request), request.client_id) in found:
            existing = message_by_client_id(
                room_id=request.room_id, author=request.author, client_id=request.client_id
            )
            if existing is not None:
                out[index] = existing
    return out
