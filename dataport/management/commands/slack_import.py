"""`manage.py slack_import <export.zip> [--dry-run] [--rooms a,b]`: a Slack export's
users, conversations and messages into this chat (dataport/slack/). Idempotent."""

from argparse import ArgumentParser
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError

from dataport.slack.archive import ArchiveError
from dataport.slack.run import slack_import


class Command(BaseCommand):
    help = "Import a Slack export zip (users, channels, DMs, messages, threads, reactions, files)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("export", help="the export's .zip file")
        parser.add_argument(
            "--dry-run", action="store_true", help="read and count everything, write nothing"
        )
        parser.add_argument(
            "--rooms", default="", help="only these conversations: names or ids, comma-separated"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = slack_import(
                options["export"],
                rooms=set(options["rooms"].split(",")) if options["rooms"] else set(),
                dry_run=options["dry_run"],
                # The bar redraws with \r: the raw stream, not the wrapper adding \n.
                progress_to=cast(TextIO, self.stderr._out),
            )
        except ArchiveError as error:
            raise CommandError(str(error)) from None
        for line in summary.lines(dry_run=options["dry_run"]):
            self.stdout.write(line)
