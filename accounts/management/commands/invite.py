"""`manage.py invite`: make an invitation link, for scripts and first installs. The link
(an absolute URL) is the only line on standard output; details go to standard error."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from accounts import services
from chat.errors import ChatError
from chat.models import Room


class Command(BaseCommand):
    help = "Print a sign-up link: an invitation valid for --days, usable --uses times."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="",
            help="The site's address, e.g. https://chat.example.com (default: CHAT_SITE_URL).",
        )
        parser.add_argument("--days", type=float, default=7.0, help="Valid for (default 7).")
        parser.add_argument("--uses", type=int, default=1, help="How many sign-ups (default 1).")
        parser.add_argument(
            "--room",
            action="append",
            default=[],
            metavar="SLUG",
            help="A room to join on sign-up (repeatable).",
        )
        parser.add_argument("--note", default="", help="Who it is for (shown to staff).")

    def handle(self, *args: Any, **options: Any) -> None:
        base = (options["base_url"] or settings.CHAT_SITE_URL).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise CommandError(
                "The site's address is unknown: set CHAT_SITE_URL or pass "
                "--base-url https://chat.example.com"
            )
        rooms = []
        for slug in options["room"]:
            room = Room.objects.filter(slug=slug).first()
            if room is None:
                raise CommandError(f"No such room: {slug}")
            rooms.append(room)
        try:
            new = services.invitation_create(
                creator=None,
                days=options["days"],
                max_uses=options["uses"],
                note=options["note"] or "manage.py invite",
                rooms=rooms,
            )
        except ChatError as error:
            raise CommandError(error.detail) from None
        if settings.CHAT_SIGNUP == "closed":
            self.stderr.write("Note: CHAT_SIGNUP is closed; invitations work once it is not.")
        expires = new.invitation.expires_at.isoformat(timespec="minutes")
        self.stderr.write(f"Invitation for {options['uses']} sign-up(s), until {expires}:")
        self.stdout.write(base + reverse("signup_invited", args=[new.secret]))
