"""`manage.py erase_user <username> [--delete-messages]`: erase a person (dataport/erase.py).
The actor in the audit log is the system (no account). Prints the anonymous name."""

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.errors import ChatError
from dataport.erase import user_erase


class Command(BaseCommand):
    help = (
        "Erase a person: deactivate and anonymise the account (deleted-<id>), end their "
        "sessions and sockets, delete their tokens, devices and links; keep their "
        "messages under the anonymous name, or delete them with --delete-messages."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--delete-messages",
            action="store_true",
            help="Also delete their messages and files (clients see them go).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No such user: {options['username']}")
        try:
            erased = user_erase(user=user, actor=None, delete_messages=options["delete_messages"])
        except ChatError as error:
            raise CommandError(error.detail) from None
        self.stderr.write(
            f"Erased {options['username']}: now {erased.username}, "
            f"{erased.messages_deleted} messages deleted."
        )
        self.stdout.write(erased.username)
