"""`manage.py bot create <username>`: a bot account for scripts and first installs. Its
new API token is the only line on standard output; details go to standard error."""

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.errors import ChatError
from integrations import bots


class Command(BaseCommand):
    help = "Manage bot accounts (no password, no page log-in: API tokens only)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Make a bot; print its new API token.")
        create.add_argument("username")
        create.add_argument("--display-name", default="", help="Shown instead of the username.")
        create.add_argument("--owner", default="", metavar="USER", help="Who manages it.")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = None
        if options["owner"]:
            owner = User.objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"No such user: {options['owner']}")
        try:
            bot, secret = bots.bot_create(
                username=options["username"], display_name=options["display_name"], owner=owner
            )
        except ChatError as error:
            raise CommandError(error.detail) from None
        self.stderr.write(
            f"Bot {bot.get_username()} created. Its API token (shown only now) follows; "
            "send it as Authorization: Bearer <token>."
        )
        self.stdout.write(secret)
