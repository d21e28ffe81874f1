"""Threads write side: which messages may be a thread's root, the summary and the
followers a reply changes (inside the saving transaction), following and reading a
thread, and the thread.updated / thread.state frames every change publishes after
commit. The replies themselves are saved by chat/services/posting.py, the one write
path."""

from collections import defaultdict

from django.contrib.auth.models import User
from django.db import connection, transaction

from chat import events, selectors
from chat.content.threads import participants_after, participants_of
from chat.errors import ChatError
from chat.models import Message, Thread, ThreadFollow
from chat.protocol.codes import ErrorCode
from chat.selectors import MessageOut
from chat.selectors.message_rows import thread_summary
from chat.selectors.threads import ThreadState, thread_root, thread_states
from chat.services.access import access_require_read
from chat.services.mentioning import Mentioned

BAD_THREAD = (
    "You can reply in a thread only to a message of this room that is shown and is not "
    "itself a reply."
)


def roots_check(wanted: dict[int, int]) -> dict[int, Message]:
    """Of the roots asked for (root id -> the room the reply is in), those that may get
    a reply: top-level messages of that room, not deleted or hidden. One query."""
    if not wanted:
        return {}
    found = Message.objects.filter(
        pk__in=list(wanted), thread__isnull=True, deleted_at__isnull=True
    ).only("id", "room_id", "author_id")
    return {message.pk: message for message in found if wanted[message.pk] == message.room_id}


def replies_saved(
    rows: list[Message],
    authors: list[str | None],
    mentioned: list[Mentioned],
    roots: dict[int, Message],
    slugs: dict[int, str],
) -> None:
    """Inside the transaction that saved `rows` (the rooms' rows are locked, so each
    thread's replies arrive here in seq order): their threads' summaries, who follows
    now, and after commit thread.updated to the rooms and thread.state to the users."""
    by_root: dict[int, list[tuple[Message, str | None, Mentioned]]] = defaultdict(list)
    for row, author, found in zip(rows, authors, mentioned, strict=True):
        if row.thread_id is not None:
            by_root[row.thread_id].append((row, author, found))
    if not by_root:
        return
    # Locked: a deletion recounting one of these summaries meanwhile is not overwritten.
    locked = Thread.objects.select_for_update().filter(root_id__in=list(by_root))
    existing = {t.root_id: t for t in locked}
    created: list[Thread] = []
    follows: dict[tuple[int, int], int] = {}  # (root, user) -> read up to (0: as it was)
    for root_id, replies in by_root.items():
        thread = existing.get(root_id)
        if thread is None:
            thread = Thread(root_id=root_id, room_id=replies[0][0].room_id)
            created.append(thread)
        if thread.last_reply_at is None:
            # The root's author follows from the first reply on (a thread may exist
            # before it: someone followed the message).
            author_id = roots[root_id].author_id if root_id in roots else None
            if author_id is not None:
                follows[(root_id, author_id)] = 0
        thread.replies += len(replies)
        thread.last_reply_at = replies[-1][0].created_at
        thread.last_seq = replies[-1][0].seq
        thread.participants = participants_after(
            list(thread.participants), [a for _, a, _ in replies if a is not None]
        )
        for row, _, found in replies:
            for user_id in found.names.values():  # @username follows (not @room/@here)
                follows.setdefault((root_id, user_id), 0)
            if row.author_id is not None:  # a replier follows, and has read up to it
                follows[(root_id, row.author_id)] = row.seq
    Thread.objects.bulk_create(created)
    changed = [t for t in existing.values() if t.root_id in by_root]
    Thread.objects.bulk_update(changed, ["replies", "last_reply_at", "last_seq", "participants"])
    _follow_many(follows)
    for thread in [*created, *changed]:
        _updated_publish(thread, slugs[thread.room_id])
    states_publish(root_ids=list(by_root))


def _follow_many(follows: dict[tuple[int, int], int]) -> None:
    """Make these (root, user) follow, moving pointers up to the given seqs: two
    statements however many (a batch of replies must not cost one per reply)."""
    if not follows:
        return
    ThreadFollow.objects.bulk_create(
        [ThreadFollow(thread_id=root, user_id=user) for root, user in follows],
        ignore_conflicts=True,
    )
    table = connection.ops.quote_name(ThreadFollow._meta.db_table)
    values = ", ".join(["(%s, %s, %s)"] * len(follows))
    # A VALUES list's columns are column1.. on both PostgreSQL and SQLite (>= 3.33 for
    # UPDATE … FROM); the pointer only moves forward.
    sql = (
        f"UPDATE {table} SET following = %s, last_read_seq = CASE"  # noqa: S608 - table from the model
        f" WHEN v.column3 > {table}.last_read_seq THEN v.column3 ELSE {table}.last_read_seq END"
        f" FROM (VALUES {values}) AS v"
        f" WHERE {table}.thread_id = v.column1 AND {table}.user_id = v.column2"
    )
    params: list[bool | int] = [True]
    for (root, user), seq in follows.items():
        params += [root, user, seq]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _updated_publish(thread: Thread, slug: str) -> None:
    frame = {
        "type": "thread.updated",
        "room": slug,
        "root": thread.root_id,
        "summary": _summary(thread),
    }
    # After the reply that changed it, on each connection (a frame never outruns its message).
    events.publish_on_commit(
        events.room_frame(thread.room_id, frame, after_seq=thread.last_seq or 0)
    )


def _summary(thread: Thread) -> selectors.ThreadSummary:
    return thread_summary(
        thread.replies, thread.last_reply_at, thread.participants, thread.last_seq
    )


def states_publish(*, root_ids: list[int], user_ids: list[int] | None = None) -> None:
    """Read, in the changing transaction after the change, the state of these users
    (None: everyone with a place in these threads who may read them); after commit,
    each gets thread.state on every connection. Their totals over every thread they
    follow are added where they are connected (chat/realtime/thread_states.py), not
    here: this runs with the room's row locked."""
    states = thread_states(root_ids=root_ids, user_ids=user_ids)
    if not states:
        return
    by_user: dict[int, list[ThreadState]] = defaultdict(list)
    for (user_id, _), state in sorted(states.items()):
        by_user[user_id].append(state)
    events.publish_on_commit(events.thread_states(dict(by_user)))


def _thread_of(*, user: User, slug: str, root_id: int) -> Thread:
    """The thread of a root of a room the user may read, made if it has no reply yet
    (anyone may follow a message before its first reply). ChatError otherwise."""
    room = selectors.room_get(slug=slug)
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    access_require_read(room_id=room["id"], user=user)
    thread = Thread.objects.filter(root_id=root_id, room_id=room["id"]).first()
    if thread is not None:
        return thread
    if root_id not in roots_check({root_id: room["id"]}):
        raise ChatError(ErrorCode.BAD_THREAD, BAD_THREAD)
    thread, _ = Thread.objects.get_or_create(root_id=root_id, defaults={"room_id": room["id"]})
    return thread


@transaction.atomic
def thread_follow(*, user: User, slug: str, root_id: int, following: bool) -> ThreadState:
    """Follow or unfollow a thread of a room the user may read; every connection of the
    user gets thread.state."""
    thread = _thread_of(user=user, slug=slug, root_id=root_id)
    follow, _ = ThreadFollow.objects.get_or_create(
        thread=thread, user=user, defaults={"following": following}
    )
    if follow.following != following:
        follow.following = following
        follow.save(update_fields=["following"])
    states_publish(root_ids=[thread.root_id], user_ids=[user.pk])
    return thread_states(root_ids=[thread.root_id], user_ids=[user.pk])[(user.pk, thread.root_id)]


@transaction.atomic
def thread_read(*, user: User, slug: str, root_id: int, seq: int) -> tuple[ThreadState, bool]:
    """Move the user's pointer in the thread up to `seq` (never back, never past the
    thread's newest reply). Returns the state and whether it changed; a change reaches
    every connection of the user."""
    thread = _thread_of(user=user, slug=slug, root_id=root_id)
    target = min(seq, thread.last_seq)
    follow, created = ThreadFollow.objects.get_or_create(
        thread=thread, user=user, defaults={"following": False, "last_read_seq": target}
    )
    changed = created
    if not created and follow.last_read_seq < target:
        ThreadFollow.objects.filter(pk=follow.pk, last_read_seq__lt=target).update(
            last_read_seq=target
        )
        changed = True
    if changed:
        states_publish(root_ids=[thread.root_id], user_ids=[user.pk])
    state = thread_states(root_ids=[thread.root_id], user_ids=[user.pk])[(user.pk, root_id)]
    return state, changed


def thread_history(
    *,
    room_id: int,
    root_id: int,
    user: User,
    before: int | None,
    limit: int,
    after: int | None = None,
    around: int | None = None,
) -> tuple[MessageOut, list[MessageOut]]:
    """A thread's root and a page of its replies in seq order (`before`, `after` or
    `around` a seq, as the room's history), authorized now."""
    access_require_read(room_id=room_id, user=user)
    if thread_root(root_id=root_id, room_id=room_id) is None:
        raise ChatError(ErrorCode.BAD_THREAD, "No such message in this room.")
    root = selectors.thread_roots([root_id], reader_id=user.pk)[root_id]
    replies = selectors.message_page(
        room_id=room_id,
        reader_id=user.pk,
        before=before,
        limit=limit,
        after=after,
        around=around,
        thread=root_id,
    )
    return root, replies


def reply_changed(message: Message, *, user_ids: list[int] | None = None) -> None:
    """A reply was edited (its mentions changed for `user_ids`) or deleted/hidden (None:
    its thread's summary is counted again). Inside the changing transaction."""
    root_id = message.thread_id
    if root_id is None:
        return
    if user_ids is None:
        thread = _summary_recount(root_id)
        if thread is not None:
            _updated_publish(thread, message.room.slug)
    states_publish(root_ids=[root_id], user_ids=user_ids)


def threads_recount(*, root_ids: list[int], slug: str) -> None:
    """Replies of these threads were removed outright (retention, dataport/retention.py):
    count their summaries again and tell the room and their followers. Inside the
    removing transaction."""
    for root_id in root_ids:
        thread = _summary_recount(root_id)
        if thread is not None:
            _updated_publish(thread, slug)
    if root_ids:
        states_publish(root_ids=root_ids)


def _summary_recount(root_id: int) -> Thread | None:
    """Count a thread's summary again from its visible replies."""
    thread = Thread.objects.select_for_update().filter(root_id=root_id).first()
    if thread is None:
        return None
    visible = Message.objects.filter(thread_id=root_id, deleted_at__isnull=True)
    newest = visible.order_by("-seq").values("seq", "created_at").first()
    thread.replies = visible.count()
    thread.last_seq = newest["seq"] if newest else 0
    if newest:  # with none left, the last reply time stays (the Threads list's order)
        thread.last_reply_at = newest["created_at"]
    authors = (
        visible.filter(author__isnull=False)
        .order_by("-seq")
        .values_list("author__username", flat=True)[:200]
    )
    thread.participants = participants_of(authors)
    thread.save(update_fields=["replies", "last_seq", "last_reply_at", "participants"])
    return thread


def thread_followed_by_mention(message: Message, user_ids: list[int]) -> None:
    """Newly @named people in an edited reply follow its thread."""
    if message.thread_id is not None and user_ids:
        _follow_many({(message.thread_id, user_id): 0 for user_id in user_ids})
