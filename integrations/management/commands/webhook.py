"""`manage.py webhook <action>`: make webhooks from a shell, for scripts and first
installs. Each action prints the one thing a script needs alone on standard output
(details go to standard error):
- `create --room SLUG [--name NAME] [--base-url URL]`: an incoming (Slack-compatible)
  hook; prints its absolute URL.
- `create-outgoing --room SLUG --url URL [--trigger WORD …] [--mention] [--all]`: an
  outgoing hook; prints its signing secret."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.errors import ChatError
from chat.models import Room
from integrations import incoming
from integrations.outgoing import HookSettings, outgoing_create


class Command(BaseCommand):
    help = (
        "Make webhooks: `create` an incoming (Slack-compatible) hook, printing its URL; "
        "`create-outgoing` an outgoing one, printing its secret."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Make an incoming hook; print its URL.")
        create.add_argument("--room", required=True, metavar="SLUG", help="The room it posts to.")
        create.add_argument("--name", default="", help="Its bot's display name.")
        create.add_argument(
            "--base-url",
            default="",
            metavar="URL",
            help="The site's address, e.g. https://chat.example.com (default: CHAT_SITE_URL).",
        )
        outgoing = actions.add_parser(
            "create-outgoing",
            help="An outgoing webhook for a room; prints its signing secret alone on a line.",
        )
        outgoing.add_argument("--room", required=True, metavar="SLUG")
        outgoing.add_argument("--url", required=True, help="Where messages are POSTed.")
        outgoing.add_argument(
            "--trigger",
            action="extend",
            nargs="+",
            default=[],
            metavar="WORD",
            help="A word a message may start with (repeatable, or several after one flag).",
        )
        outgoing.add_argument(
            "--mention", action="store_true", help="Messages that mention its bot."
        )
        outgoing.add_argument("--all", action="store_true", help="Every message of the room.")
        outgoing.add_argument("--name", default="", help="Its name (and its bot's).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self._create(options)
        elif options["action"] == "create-outgoing":
            self._create_outgoing(options)

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

    def _create_outgoing(self, options: dict[str, Any]) -> None:
        room = Room.objects.filter(slug=options["room"], is_direct=False).first()
        if room is None:
            raise CommandError(f"No such room: {options['room']}")
        # The room's owner owns the hook (they are told if it is switched off); a room
        # without one is staff's.
        owner = room.created_by or User.objects.filter(is_superuser=True, is_active=True).first()
        if owner is None:
            raise CommandError("The room has no owner and there is no superuser to own the hook.")
        wanted = HookSettings(
            url=options["url"],
            triggers=tuple(options["trigger"]),
            on_mention=options["mention"],
            on_all=options["all"],
        )
        try:
            hook, secret = outgoing_create(
                room=room, name=options["name"] or f"{room.slug} hook", wanted=wanted, actor=owner
            )
        except ChatError as error:
            raise CommandError(error.detail) from None
        self.stderr.write(
            f"Outgoing webhook {hook.pk} for #{room.slug} (bot @{hook.bot.get_username()}), "
            f"owned by {owner.get_username()}. Its secret signs every request:"
        )
        self.stdout.write(secret)
