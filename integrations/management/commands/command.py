"""`manage.py command create <name> --url URL [--description D] [--usage U]`: register
a custom slash command; prints the token it will send alone on the last line."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.protocol.command_frames import BUILTIN_NAMES
from integrations.commands import command_create


class Command(BaseCommand):
    help = "Manage custom slash commands."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Register a custom slash command.")
        create.add_argument("name", help="The command's name, without the slash.")
        create.add_argument("--url", required=True, help="Where the form is POSTed.")
        create.add_argument("--description", default="", help="Shown in the completion list.")
        create.add_argument("--usage", default="", help='Its arguments, e.g. "[city]".')

    def handle(self, *args: Any, **options: Any) -> None:
        name = str(options["name"]).lstrip("/").lower()
        if name in BUILTIN_NAMES:
            raise CommandError(f"/{name} is a built-in command.")
        try:
            command = command_create(
                name=name,
                url=options["url"],
                description=options["description"],
                usage=options["usage"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Created /{command.name}; it sends this token:")
        self.stdout.write(command.token)
