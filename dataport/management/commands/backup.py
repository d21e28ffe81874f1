"""`manage.py backup <file>`: one archive with a consistent database snapshot, the
uploaded files and a manifest, taken while the chat runs (dataport/backup/)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataport.backup.archive import backup_rotate, backup_write


class Command(BaseCommand):
    help = (
        "Back up the database (PostgreSQL: pg_dump's custom format; SQLite: the online "
        "backup API), the uploaded files and a manifest into one tar archive. Safe while "
        "the chat runs. Given a directory, writes chat-backup-<UTC time>.tar in it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the archive to write, or a directory for a dated one")
        parser.add_argument(
            "--keep",
            type=int,
            default=None,
            help="with a directory: afterwards delete all but the newest N chat-backup-*.tar",
        )
        parser.add_argument(
            "--pg-bin",
            default=None,
            help="directory of pg_dump (default: PATH), e.g. /usr/lib/postgresql/16/bin",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        target = Path(options["file"])
        keep: int | None = options["keep"]
        if keep is not None and (keep < 1 or not target.is_dir()):
            raise CommandError("--keep N needs N >= 1 and a directory as <file>")
        if not target.is_dir() and not target.parent.is_dir():
            raise CommandError(f"no directory {target.parent} to write {target.name} in")
        path, manifest = backup_write(target, pg_bin=options["pg_bin"], warn=self._warn)
        rows = sum(manifest.counts.values())
        self.stdout.write(
            f"backup: {path} ({path.stat().st_size} bytes): {manifest.engine} "
            f"{manifest.versions.get('postgresql') or manifest.versions.get('sqlite')}, "
            f"{len(manifest.counts)} tables, {rows} rows, {len(manifest.migrations)} "
            f"migrations, {manifest.media_files} files ({manifest.media_bytes} bytes)"
        )
        if manifest.media_missing_count:
            self._warn(
                f"warning: {manifest.media_missing_count} files named by the database are "
                f"not in the media directory (e.g. {manifest.media_missing[0]})"
            )
        if keep is not None:
            for old in backup_rotate(target, keep):
                self.stdout.write(f"rotated: deleted {old}")

    def _warn(self, message: str) -> None:
        self.stderr.write(message)
