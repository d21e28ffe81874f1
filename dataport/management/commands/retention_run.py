"""`manage.py retention_run [--batch N]`: apply the retention spans now (what the daily
job does), printing the counts the audit log records."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dataport import retention


class Command(BaseCommand):
    help = "Delete messages older than their room's retention span now (the daily job's work)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch",
            type=int,
            default=retention.RETENTION_BATCH,
            help="Messages deleted per transaction (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch = max(1, int(options["batch"]))
        report = retention.retention_run(batch=batch, actor_note="manage.py retention_run")
        self.stdout.write(report.summary())
        for slug, count in sorted(report.per_room.items()):
            self.stdout.write(f"  {slug}: {count}")
