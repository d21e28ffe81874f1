"""`manage.py restore <file>`: a `backup` archive into an empty database and media
directory (dataport/backup/); `migrate` afterwards brings an older backup forward."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataport.backup.archive import restore


class Command(BaseCommand):
    help = (
        "Restore a `manage.py backup` archive into the configured database and "
        "DJANGO_MEDIA_ROOT, which must be empty (--force deletes what is there first). "
        "Stop the chat first; run `manage.py migrate` afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the archive written by `manage.py backup`")
        parser.add_argument(
            "--force",
            action="store_true",
            help="delete every table of the database and every file of the media directory first",
        )
        parser.add_argument(
            "--pg-bin",
            default=None,
            help="directory of pg_restore (default: PATH), e.g. /usr/lib/postgresql/16/bin",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = Path(options["file"])
        if not source.is_file():
            raise CommandError(f"no backup at {source}")
        result = restore(
            source, force=options["force"], pg_bin=options["pg_bin"], warn=self.stderr.write
        )
        manifest = result.manifest
        self.stdout.write(
            f"restored: the {manifest.engine} snapshot of {manifest.created_at}: "
            f"{len(result.counts)} tables, {sum(result.counts.values())} rows (as the "
            f"manifest counts), {result.media_files} files, every checksum verified"
        )
        if result.pending_migrations:
            self.stdout.write(
                f"next: `manage.py migrate` applies the {result.pending_migrations} "
                "migrations this version has and the backup does not"
            )
