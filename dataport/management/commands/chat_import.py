"""`manage.py chat_import <zip>`: a chat_export archive into an empty instance (after
`migrate`, before anyone signs up). Refuses a used instance and a damaged archive
before writing anything. Imported history publishes nothing and notifies nobody."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataport.whole_import import NotEmpty, chat_import


class Command(BaseCommand):
    help = "Import a chat_export archive into an empty instance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="the zip chat_export wrote")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["archive"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            counts = chat_import(path, progress=lambda line: self.stderr.write(line))
        except (NotEmpty, ValueError) as error:
            raise CommandError(str(error)) from None
        summary = ", ".join(f"{name} {n}" for name, n in counts.items())
        self.stdout.write(f"Imported {path}: {summary}.")
