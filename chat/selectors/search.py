"""Message search: a parsed query (chat/search/query.py) run on the engine's full-text
index (chat/search/schema.py), limited to what the user may read now. Read-only.

One query finds a page of ids with their highlighted text; a second reads those
messages as every transport shows them (selectors.message_list_by_ids).
"""

import base64
import binascii
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Literal, TypedDict

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from chat.errors import ChatError
from chat.models import Attachment, Membership, Mention, Message, Room, Sanction
from chat.protocol.codes import ErrorCode
from chat.search import schema
from chat.search.query import (
    MARK_END,
    MARK_START,
    SearchQuery,
    fts5_match,
    plain_marked,
    snippet_html,
)
from chat.selectors.messages import MessageOut, message_list_by_ids

Sort = Literal["newest", "relevance"]
MAX_SEARCH_LIMIT = 50
MAX_RELEVANCE_OFFSET = 1000  # relevance pages by offset; deeper than this, refine the query


class SearchResult(MessageOut):
    # The plain text (or the part around the first match), escaped; matches in <mark>.
    highlight: str
    room_name: str  # the room is often one the page does not hold (not joined)


class SearchPage(TypedDict):
    results: list[SearchResult]
    next: str | None  # the cursor of the next page; None: no more


def message_search(
    *,
    user_id: int,
    query: SearchQuery,
    sort: Sort = "newest",
    cursor: str | None = None,
    limit: int = 20,
    tz: tzinfo = UTC,
) -> SearchPage:
    """Messages matching every term and filter, in rooms the user may read now (public
    rooms they are not banned from, private rooms and DMs they are a member of; staff
    included: search does not open other people's DMs), never deleted or hidden ones.
    Newest first, or with `relevance` the messages holding the query exactly first,
    then by the engine's rank. Raises ChatError `bad_cursor`."""
    position = _cursor_read(cursor, sort)
    where, params = _filters(user_id, query, tz)
    params["limit"] = limit + 1
    if connection.vendor == "postgresql":
        sql = _postgres_sql(query, sort, where, params, position)
    else:
        sql = _sqlite_sql(query, sort, where, params, position)
    with connection.cursor() as db:
        db.execute(sql, params)
        rows: list[tuple[Any, ...]] = db.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [row[0] for row in rows]
    messages = {m["id"]: m for m in message_list_by_ids(ids=ids, reader_id=user_id)}
    names = dict(
        Room.objects.filter(slug__in={m["room"] for m in messages.values()}).values_list(
            "slug", "name"
        )
    )
    results: list[SearchResult] = []
    for pk, marked in rows:
        found = messages.get(pk)
        if found is not None:  # deleted between the two reads
            highlight = snippet_html(plain_marked(marked or ""))
            room_name = names.get(found["room"], found["room"])
            results.append({**found, "highlight": highlight, "room_name": room_name})
    following: str | None = None
    if more and rows:
        if sort == "newest":
            following = _cursor_write(f"n{rows[-1][0]}")
        elif position + limit < MAX_RELEVANCE_OFFSET:
            following = _cursor_write(f"r{position + limit}")
    return {"results": results, "next": following}


def _cursor_write(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _cursor_read(cursor: str | None, sort: Sort) -> int:
    """The id to read below (newest) or the offset (relevance); 0: the first page."""
    if not cursor:
        return 0
    bad = ChatError(ErrorCode.BAD_CURSOR, "This cursor is not one this search gave out.")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    kind, number = text[:1], text[1:]
    if kind != ("n" if sort == "newest" else "r") or not number.isdigit() or len(number) > 18:
        raise bad
    value = int(number)
    if sort == "relevance" and value > MAX_RELEVANCE_OFFSET:
        raise bad
    return value


def _filters(user_id: int, query: SearchQuery, tz: tzinfo) -> tuple[list[str], dict[str, Any]]:
    """WHERE clauses on `m` (chat_message) both engines share. Only fixed SQL and table
    names are written into the text; every value is a parameter."""
    q = connection.ops.quote_name
    room, member, sanction = (
        q(Room._meta.db_table),
        q(Membership._meta.db_table),
        q(Sanction._meta.db_table),
    )
    params: dict[str, Any] = {
        "user": user_id,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "ban": Sanction.Kind.BAN.value,
    }
    # What the user may read now: public rooms, private ones (DMs too) they are a member
    # of; not a room they are banned from (or anything when banned site-wide).
    readable = (
        f"m.room_id IN (SELECT r.id FROM {room} r WHERE (r.is_private = %(false)s"  # noqa: S608
        f" OR EXISTS (SELECT 1 FROM {member} mb WHERE mb.room_id = r.id"
        " AND mb.user_id = %(user)s))"
        f" AND NOT EXISTS (SELECT 1 FROM {sanction} s WHERE s.user_id = %(user)s"
        " AND s.kind = %(ban)s AND s.lifted_at IS NULL"
        " AND (s.room_id = r.id OR s.room_id IS NULL)"
        " AND (s.expires_at IS NULL OR s.expires_at > %(now)s)))"
    )
    params["false"] = False
    where = ["m.deleted_at IS NULL", readable]
    if query.rooms:
        names = _values(params, "room", list(query.rooms))
        where.append(f"m.room_id IN (SELECT id FROM {room} WHERE LOWER(slug) IN ({names}))")  # noqa: S608
    if query.authors:
        names = _values(params, "author", [name.lower() for name in query.authors])
        user = q(User._meta.db_table)
        where.append(f"m.author_id IN (SELECT id FROM {user} WHERE LOWER(username) IN ({names}))")  # noqa: S608
    for name, day, op in (("before", query.before, "<"), ("after", query.after, ">=")):
        if day is not None:
            # before: the day starts; after: the day ends (both in the user's time zone).
            start = day if name == "before" else day + timedelta(days=1)
            moment = datetime.combine(start, time(), tzinfo=tz)
            params[name] = connection.ops.adapt_datetimefield_value(moment)
            where.append(f"m.created_at {op} %({name})s")
    if query.has_file:
        attachment = q(Attachment._meta.db_table)
        where.append(f"EXISTS (SELECT 1 FROM {attachment} a WHERE a.message_id = m.id)")  # noqa: S608
    if query.has_link:
        params["http"], params["https"] = "%http://%", "%https://%"
        where.append("(LOWER(m.body) LIKE %(http)s OR LOWER(m.body) LIKE %(https)s)")
    if query.is_mention:
        mention = q(Mention._meta.db_table)
        # Named and @here mentions have rows; @room names every member without any.
        where.append(
            f"(EXISTS (SELECT 1 FROM {mention} mn WHERE mn.message_id = m.id"  # noqa: S608
            " AND mn.user_id = %(user)s) OR (m.group_mention = %(at_room)s"
            " AND (m.author_id IS NULL OR m.author_id <> %(user)s)"
            f" AND EXISTS (SELECT 1 FROM {member} mr WHERE mr.room_id = m.room_id"
            " AND mr.user_id = %(user)s)))"
        )
        params["at_room"] = "room"
    if query.is_thread:
        where.append("m.thread_id IS NOT NULL")  # replies in threads (not their roots)
    return where, params


def _values(params: dict[str, Any], prefix: str, values: list[str]) -> str:
    names = []
    for index, value in enumerate(values):
        params[f"{prefix}{index}"] = value
        names.append(f"%({prefix}{index})s")
    return ", ".join(names)


def _exact(query: SearchQuery) -> str:
    # The query as typed (its words in order): a message holding it ranks first.
    return " ".join(term.text for term in query.terms).lower()


def _postgres_sql(
    query: SearchQuery, sort: Sort, where: list[str], params: dict[str, Any], position: int
) -> str:
    config = settings.CHAT_SEARCH_CONFIG  # validated at start: a plain name
    parts = []
    for index, term in enumerate(query.terms):
        params[f"t{index}"] = term.text
        # phraseto_tsquery reads plain text: nothing typed is an operator. The simple
        # configuration beside the language's matches names, code and stop words.
        parts.append(
            f"(phraseto_tsquery('{config}'::regconfig, %(t{index})s)"
            f" || phraseto_tsquery('simple'::regconfig, %(t{index})s))"
        )
    tsquery = " && ".join(parts)
    vector = schema.pg_vector(config, "m.body")
    message = connection.ops.quote_name(Message._meta.db_table)
    matched = [f"{vector} @@ ({tsquery})", *where]
    if sort == "newest":
        if position:
            params["below"] = position
            matched.append("m.id < %(below)s")
        columns, inner, outer, offset = "", "m.id DESC", "page.id DESC", ""
    else:
        params["exact"], params["offset"] = _exact(query), position
        columns = (
            ", (POSITION(%(exact)s IN LOWER(m.body)) > 0) AS exact,"
            f" ts_rank_cd({vector}, ({tsquery})) AS rank"
        )
        inner = "exact DESC, rank DESC, m.id DESC"
        outer = "page.exact DESC, page.rank DESC, page.id DESC"
        offset = " OFFSET %(offset)s"
    params["mark"] = f"StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true"
    # The headline (costly) only for the page's rows.
    return (
        f"SELECT page.id, ts_headline('{config}'::regconfig, page.body, ({tsquery}),"  # noqa: S608
        f" %(mark)s) FROM (SELECT m.id, m.body{columns} FROM {message} m"
        f" WHERE {' AND '.join(matched)} ORDER BY {inner} LIMIT %(limit)s{offset}) page"
        f" ORDER BY {outer}"
    )


def _sqlite_sql(
    query: SearchQuery, sort: Sort, where: list[str], params: dict[str, Any], position: int
) -> str:
    fts = schema.FTS_TABLE
    message = connection.ops.quote_name(Message._meta.db_table)
    params["match"] = fts5_match(query)
    matched = [f"{fts} MATCH %(match)s", *where]
    if sort == "newest":
        if position:
            params["below"] = position
            matched.append(f"{fts}.rowid < %(below)s")
        order, offset = f"{fts}.rowid DESC", ""
    else:
        params["exact"], params["offset"] = _exact(query), position
        order = f"(INSTR(LOWER(m.body), %(exact)s) > 0) DESC, bm25({fts}), m.id DESC"
        offset = " OFFSET %(offset)s"
    params["start"], params["end"] = MARK_START, MARK_END
    return (
        f"SELECT m.id, highlight({fts}, 0, %(start)s, %(end)s) FROM {fts}"  # noqa: S608
        f" JOIN {message} m ON m.id = {fts}.rowid WHERE {' AND '.join(matched)}"
        f" ORDER BY {order} LIMIT %(limit)s{offset}"
    )
