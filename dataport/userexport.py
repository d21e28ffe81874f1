"""A person's own export: asking for it (one a day), building it (the job), telling them
(page and email), handing it out (to them only) and deleting it once expired. The zip's
contents are userexport_build.py's; the jobs and their scheduling userexport_jobs.py's.

Files live in MEDIA_ROOT/private/exports/, which nothing serves: only the view that
checks the owner reads them (deploy/nginx/chat.conf never maps /media/ to disk)."""

import logging
import os
import secrets
import smtplib
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.identity.audit import SecurityEvent, record
from accounts.models import DataExport
from dataport.userexport_build import export_write

logger = logging.getLogger(__name__)

EXPORT_VALID_DAYS = 7
# One request per this long (a failed build does not count: they may ask again).
REQUEST_EVERY_SECONDS = 24 * 3600
# Exports deleted per purge run: a bounded run; the next one takes the rest.
PURGE_BATCH = 200


class ExportTooSoon(Exception):
    """A request within a day of the last one; `next_at` is when one is allowed."""

    def __init__(self, next_at: datetime) -> None:
        super().__init__(f"next export allowed at {next_at.isoformat()}")
        self.next_at = next_at


def exports_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "private" / "exports"


def export_path(export: DataExport) -> Path:
    return exports_dir() / f"{export.key}.zip"


def export_next_allowed(user: User, now: datetime | None = None) -> datetime | None:
    """When this person may ask again, or None if now."""
    now = now or timezone.now()
    since = now - timedelta(seconds=REQUEST_EVERY_SECONDS)
    last = (
        DataExport.objects.filter(user=user, requested_at__gt=since)
        .exclude(status=DataExport.Status.FAILED)
        .order_by("-requested_at")
        .values_list("requested_at", flat=True)
        .first()
    )
    return last + timedelta(seconds=REQUEST_EVERY_SECONDS) if last is not None else None


def export_request(*, user: User, request: HttpRequest | None = None) -> DataExport:
    """Record the request and queue its build (after commit). Raises ExportTooSoon."""
    from dataport.userexport_jobs import user_export_job  # the jobs import this module

    with transaction.atomic():
        # The person's row is the lock: two requests at once make one export.
        User.objects.select_for_update().filter(pk=user.pk).first()
        now = timezone.now()
        next_at = export_next_allowed(user, now)
        if next_at is not None:
            raise ExportTooSoon(next_at)
        export = DataExport.objects.create(
            user=user, key=secrets.token_urlsafe(32), requested_at=now
        )
        record(
            SecurityEvent.DATA_EXPORT, actor=user, target=user, reason="requested", request=request
        )
        transaction.on_commit(lambda: user_export_job.enqueue(export_id=export.pk))
    return export


def export_build(export_id: int) -> None:
    """The job: write the zip, mark the export ready, email the link. Safe to run twice
    (a reaped job): a second run finds it no longer pending and does nothing, or loses
    the race at the final UPDATE and removes its own file."""
    export = (
        DataExport.objects.filter(pk=export_id, status=DataExport.Status.PENDING)
        .select_related("user")
        .first()
    )
    if export is None:
        return
    final = export_path(export)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f"{export.key}.{secrets.token_hex(4)}.part")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            counts = export_write(zf, export.user, at=timezone.now())
        os.replace(partial, final)
    except Exception:
        partial.unlink(missing_ok=True)
        DataExport.objects.filter(pk=export_id, status=DataExport.Status.PENDING).update(
            status=DataExport.Status.FAILED, finished_at=timezone.now()
        )
        logger.exception("data export %d failed", export_id)
        return
    now = timezone.now()
    expires_at = now + timedelta(days=EXPORT_VALID_DAYS)
    if not DataExport.objects.filter(pk=export_id, status=DataExport.Status.PENDING).update(
        status=DataExport.Status.READY,
        finished_at=now,
        expires_at=expires_at,
        size=final.stat().st_size,
    ):
        # Another run finished first (the file at `final` is as good as ours), or the
        # export was deleted meanwhile (exports_delete): then no file may stay.
        if not DataExport.objects.filter(pk=export_id, status=DataExport.Status.READY).exists():
            final.unlink(missing_ok=True)
        return
    logger.info("data export %d ready: %s", export_id, counts)
    export.expires_at = expires_at
    _email(export)


def export_download_url(export: DataExport) -> str:
    return reverse("dataport:export-download", kwargs={"key": export.key})


def _email(export: DataExport) -> None:
    """The link by email. A failure is logged, not retried: the link is on the page."""
    user = export.user
    if not user.email:
        return
    context = {
        "username": user.get_username(),
        "url": f"{settings.CHAT_SITE_URL}{export_download_url(export)}",
        "page_url": f"{settings.CHAT_SITE_URL}{reverse('dataport:export')}",
        "expires_at": export.expires_at,
        "days": EXPORT_VALID_DAYS,
    }
    mail = EmailMessage(
        subject="Your chat data is ready to download",
        body=render_to_string("accounts/export_email.txt", context),
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    try:
        mail.send()
    except (OSError, smtplib.SMTPException):
        logger.exception("data export %d: the email could not be sent", export.pk)


def export_for_download(*, user: User, key: str) -> DataExport | None:
    """The ready, unexpired export of this key if it is this person's; else None (the
    view answers 404 alike for someone else's, an expired and a made-up key)."""
    export = DataExport.objects.filter(
        key=key, user=user, status=DataExport.Status.READY, expires_at__gt=timezone.now()
    ).first()
    if export is None or not export_path(export).is_file():
        return None
    return export


def export_downloaded(*, export: DataExport, request: HttpRequest) -> None:
    record(
        SecurityEvent.DATA_EXPORT,
        actor=export.user,
        target=export.user,
        reason="downloaded",
        request=request,
    )


@dataclass(frozen=True)
class ExportState:
    """What /accounts/export/ shows: the latest export and when one may be asked for."""

    latest: DataExport | None
    next_at: datetime | None


def export_state(user: User) -> ExportState:
    latest = DataExport.objects.filter(user=user).order_by("-requested_at").first()
    return ExportState(latest=latest, next_at=export_next_allowed(user))


def exports_purge(now: datetime | None = None) -> int:
    """Delete the files of expired exports (the rows stay, EXPIRED: the page says so and
    the one-a-day rule still sees them). Bounded per run; returns how many."""
    now = now or timezone.now()
    expired = list(
        DataExport.objects.filter(status=DataExport.Status.READY, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", "key")[:PURGE_BATCH]
    )
    for pk, key in expired:
        (exports_dir() / f"{key}.zip").unlink(missing_ok=True)
        DataExport.objects.filter(pk=pk).update(status=DataExport.Status.EXPIRED, size=0)
    if expired:
        logger.info("data exports: %d expired and deleted", len(expired))
    _partials_remove(now)
    return len(expired)


def _partials_remove(now: datetime) -> None:
    """Half-written zips of builds whose process died (the job ran again elsewhere)."""
    folder = exports_dir()
    if not folder.is_dir():
        return
    stale = (now - timedelta(days=1)).timestamp()
    for partial in folder.glob("*.part"):
        if partial.stat().st_mtime < stale:
            partial.unlink(missing_ok=True)


def exports_delete(user: User) -> int:
    """Delete every export file of this person now and mark them expired (for erasing a
    person: their data must not wait for the purge). Returns how many files there were."""
    found = list(
        DataExport.objects.filter(user=user)
        .exclude(status=DataExport.Status.EXPIRED)
        .values_list("pk", "key")
    )
    for _, key in found:
        (exports_dir() / f"{key}.zip").unlink(missing_ok=True)
    DataExport.objects.filter(pk__in=[pk for pk, _ in found]).update(
        status=DataExport.Status.EXPIRED, size=0
    )
    return len(found)
