"""`manage.py webhook create --room SLUG`: an incoming webhook for scripts and first
installs. Its absolute URL is the only line on standard output; details go to standard
error. (Outgoing hooks get their own subcommand here: `create-outgoing`.)"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.errors import ChatError
from chat.models import Room
from integrations import incoming


class Command(BaseCommand):
    help = "Manage webhooks: `create` makes an incoming (Slack-compatible) webhook."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Make an incoming hook; print its URL.")
        create.add_argument("--room", required=True, metavar="SLUG", help="The room it posts to.")
        create.add_argument("--name", default="", help="Its bot's display name.")
        create.add_argument(
            "--base-url",
            default="",
            metavar="URL",
            help="The site's address, e.g. https://chat.example.com (default: CHAT_SITE_URL).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self._create(options)

    def _create(self, options: dict[str, Any]) -> None:
        base = (options["base_url"] or settings.CHAT_SITE_URL).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise CommandError(
                "The site's address is unknown: set CHAT_SITE_URL or pass "
                "--base-url https://chat.example.com"
            )
        room = Room.objects.filter(slug=options["room"]).first()
        if room is None:
            raise CommandError(f"No such room: {options['room']}")
        try:
            made = incoming.hook_create(room=room, name=options["name"], actor=None)
        except ChatError as error:
            raise CommandError(error.detail) from None
        self.stderr.write(
            f"Incoming webhook {made.hook.name!r} for #{room.slug}, posting as "
            f"{made.hook.bot.get_username()}. Its URL (shown only now) follows."
        )
        self.stdout.write(base + incoming.hook_path(made.key))
