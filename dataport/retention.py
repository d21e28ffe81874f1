"""Retention: delete messages older than a room's span (Room.retention_days, else
CHAT_RETENTION_DAYS), with everything hanging from them, in short transactions.

Each room is cut at a seq, not a time: `cut` is the seq of its oldest message newer
than the span, and every message below it goes. So what is kept is always a tail of the
room's seqs and "history ends at the oldest kept message" holds even if clocks made
created_at slightly out of seq order (such a message waits for the next day's run).
A thread root below the cut whose thread has a reply at or above it cannot go (its
replies would cascade with it): it is emptied instead — body, files, reactions, edits,
mentions gone — and shown as a deleted root, like one its author deleted; it goes with
the last of its replies.

Unread and mention counts are counted from the rows (chat/selectors/reading.py), so
deleting rows keeps them exact; this module only tells connected clients the new
numbers (room.read, thread.updated, thread.state) and where history now begins
(room.trimmed), after each batch commits. It never holds a room's row lock: posting
takes new seqs meanwhile."""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chat import events, selectors
from chat.models import Attachment, Mention, Message, MessageEdit, Reaction, Room, ThreadFollow
from chat.selectors import ThreadState
from chat.services import audit_record, reading
from chat.services.files import attachment_files, stored_files_delete_on_commit
from chat.services.threads import threads_recount

logger = logging.getLogger(__name__)

# Messages per transaction: small enough that each one (and SQLite's write lock) lasts
# milliseconds, so senders in the same room never wait behind retention.
RETENTION_BATCH = 500
AUDIT_ACTION = "retention.run"


@dataclass
class RetentionReport:
    """What one run removed; the audit log entry says the same."""

    rooms: int = 0  # rooms that lost messages
    messages: int = 0
    emptied_roots: int = 0  # thread roots kept, emptied, for their newer replies
    files: int = 0
    reactions: int = 0
    mentions: int = 0
    edits: int = 0
    per_room: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"rooms={self.rooms} messages={self.messages} emptied_roots={self.emptied_roots}"
            f" files={self.files} reactions={self.reactions} mentions={self.mentions}"
            f" edits={self.edits}"
        )


def retention_days(room_days: int | None) -> int | None:
    """The span a room keeps: its own, else the site's; None keeps everything."""
    return room_days if room_days is not None else settings.CHAT_RETENTION_DAYS


def room_cut(*, room_id: int, cutoff: datetime) -> int:
    """The seq of the room's oldest message at or after `cutoff` (every seq below it
    goes); past the last seq when all are older."""
    first = (
        Message.objects.filter(room_id=room_id, created_at__gte=cutoff)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    if first is not None:
        return first
    last = Room.objects.filter(pk=room_id).values_list("last_seq", flat=True).first()
    return (last or 0) + 1


def retention_run(
    *, now: datetime | None = None, batch: int = RETENTION_BATCH, actor_note: str = "daily job"
) -> RetentionReport:
    """Apply every room's span once; one audit entry with the counts (also when nothing
    was due: the log shows the job ran)."""
    now = now or timezone.now()
    report = RetentionReport()
    rooms = Room.objects.all() if settings.CHAT_RETENTION_DAYS is not None else None
    if rooms is None:
        rooms = Room.objects.filter(retention_days__isnull=False)
    for room_id, slug, days in rooms.order_by("pk").values_list("pk", "slug", "retention_days"):
        span = retention_days(days)
        if span is None:
            continue
        removed = room_trim(
            room_id=room_id, slug=slug, cutoff=now - timedelta(days=span), batch=batch, into=report
        )
        if removed:
            report.rooms += 1
            report.per_room[slug] = removed
    audit_record(
        actor=None,
        action=AUDIT_ACTION,
        target=f"{report.messages} messages in {report.rooms} rooms",
        reason=f"{actor_note}: {report.summary()}",
    )
    logger.info("retention: %s", report.summary())
    return report


def room_trim(
    *, room_id: int, slug: str, cutoff: datetime, batch: int, into: RetentionReport
) -> int:
    """Remove the room's messages below its cut, a batch per transaction; the number of
    messages removed (emptied roots not counted)."""
    cut = room_cut(room_id=room_id, cutoff=cutoff)
    # Roots below the cut with a reply at or above it: kept (emptied) for their thread.
    living = Message.objects.filter(room_id=room_id, seq__gte=cut, thread__isnull=False)
    anchors = Q(pk__in=living.values("thread_id"))
    while True:
        ids = list(
            Message.objects.filter(room_id=room_id, seq__lt=cut, thread__isnull=True)
            .filter(anchors)
            .exclude(deleted_at__isnull=False, body="", html="")
            .order_by("seq")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        _roots_empty(room_id=room_id, ids=ids, slug=slug, report=into)
    removed = 0
    while True:
        rows = list(
            Message.objects.filter(room_id=room_id, seq__lt=cut)
            .exclude(anchors)
            .order_by("seq")
            .values_list("pk", "seq", "thread_id")[:batch]
        )
        if not rows:
            break
        removed += _batch_delete(room_id=room_id, slug=slug, rows=rows, report=into)
    return removed


def _hanging_count(ids: list[int], report: RetentionReport) -> list[str]:
    """Count (into the report) and return the files of these messages' attachments."""
    files = attachment_files(ids)
    report.files += Attachment.objects.filter(message_id__in=ids).count()
    report.reactions += Reaction.objects.filter(message_id__in=ids).count()
    report.mentions += Mention.objects.filter(message_id__in=ids).count()
    report.edits += MessageEdit.objects.filter(message_id__in=ids).count()
    return files


@transaction.atomic
def _roots_empty(*, room_id: int, ids: list[int], slug: str, report: RetentionReport) -> None:
    """Empty old roots kept for their threads: what they said and carried goes."""
    files = _hanging_count(ids, report)
    for model in (Attachment, Reaction, Mention, MessageEdit):
        model.objects.filter(message_id__in=ids).delete()
    now = timezone.now()
    Message.objects.filter(pk__in=ids, deleted_at__isnull=True).update(deleted_at=now)
    Message.objects.filter(pk__in=ids).update(
        body="", html="", mentions=[], group_mention="", edited_at=None, as_name="", as_avatar=""
    )
    report.emptied_roots += len(ids)
    stored_files_delete_on_commit(files)
    seqs = dict(Message.objects.filter(pk__in=ids).values_list("pk", "seq"))
    for message_id, seq in seqs.items():
        frame = {"type": "message.deleted", "id": message_id, "seq": seq, "room": slug}
        events.publish_on_commit(events.room_frame(room_id, frame))
    # An emptied root no longer counts as unread for those who had not read it.
    reading.counts_publish(
        room_id=room_id,
        slug=slug,
        states=selectors.read_states(room_id=room_id, pointer_below=max(seqs.values())),
    )


@transaction.atomic
def _batch_delete(
    *, room_id: int, slug: str, rows: Sequence[tuple[int, int, int | None]], report: RetentionReport
) -> int:
    ids = [pk for pk, _, _ in rows]
    top = max(seq for _, seq, _ in rows)
    # Replies of these roots go with them (a cascade): count theirs too.
    everything = ids + list(
        Message.objects.filter(thread_id__in=ids).exclude(pk__in=ids).values_list("pk", flat=True)
    )
    files = _hanging_count(everything, report)
    gone_threads = _followers_of(ids, slug)
    # Threads that stay (their root is kept) but lose replies here: counted again below.
    kept_threads = sorted({t for _, _, t in rows if t is not None} - set(ids))
    _, per_model = Message.objects.filter(pk__in=ids).delete()
    deleted = per_model.get(Message._meta.label, 0)
    report.messages += deleted
    stored_files_delete_on_commit(files)
    threads_recount(root_ids=kept_threads, slug=slug)
    if gone_threads:
        events.publish_on_commit(events.thread_states(gone_threads))
    # Members who had some of these unread count fewer now; every client drops them.
    reading.counts_publish(
        room_id=room_id,
        slug=slug,
        states=selectors.read_states(room_id=room_id, pointer_below=top),
    )
    frame = {"type": "room.trimmed", "room": slug, "before": top + 1}
    events.publish_on_commit(events.room_frame(room_id, frame))
    return deleted


def _followers_of(root_ids: list[int], slug: str) -> dict[int, list[ThreadState]]:
    """The followers of threads about to go, each told the thread is gone (nothing
    unread, not followed): their totals over followed threads are counted again where
    they are connected."""
    by_user: dict[int, list[ThreadState]] = defaultdict(list)
    follows = ThreadFollow.objects.filter(thread_id__in=root_ids, following=True)
    for user_id, root_id in follows.values_list("user_id", "thread_id").order_by("user_id"):
        by_user[user_id].append(
            {
                "room": slug,
                "root": root_id,
                "following": False,
                "last_read_seq": 0,
                "unread": 0,
                "mentions": 0,
                "last_seq": 0,
            }
        )
    return dict(by_user)
