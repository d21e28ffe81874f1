"""`manage.py chat_export <out.zip> [--rooms a,b] [--since DATE] [--with-credentials]`:
the whole chat (or some rooms) as one archive chat_import reads back (docs/data.md,
"Export and re-import"). Reads only; safe while the chat runs."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dataport.whole_export import ExportOptions, chat_export


def _since(text: str) -> datetime:
    """A date (midnight UTC) or an ISO date and time (UTC unless it says otherwise)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"--since: {text!r} is not a date (YYYY-MM-DD)") from error
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Export users, rooms, memberships, messages and files as a zip of JSON Lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="the zip file to write")
        parser.add_argument("--rooms", default=None, help="only these rooms (slugs, a,b)")
        parser.add_argument("--since", default=None, help="only messages from this date on")
        parser.add_argument(
            "--with-credentials",
            action="store_true",
            help="include password hashes (keep the archive as secret as the database)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rooms = options["rooms"]
        export = ExportOptions(
            rooms=[s.strip() for s in rooms.split(",") if s.strip()] if rooms else None,
            since=_since(options["since"]) if options["since"] else None,
            with_credentials=options["with_credentials"],
        )
        out: Path = options["out"]
        try:
            manifest = chat_export(out, export)
        except ValueError as error:
            out.unlink(missing_ok=True)
            raise CommandError(str(error)) from None
        counts = ", ".join(f"{name} {n}" for name, n in manifest["counts"].items())
        self.stdout.write(f"Wrote {out}: {counts}.")
