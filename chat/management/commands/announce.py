"""`manage.py announce <room-slug> "<text>"`: post a system message into a room from the
command line. It is published through the channel layer (Redis with REDIS_URL), so the
clients of every daphne process see it live; it needs no server of its own."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat import selectors, services
from chat.errors import ChatError


class Command(BaseCommand):
    help = 'Post a system message (kind "system") into a room; connected clients see it live.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", help="the room's slug")
        parser.add_argument("text", help="the message (plain text)")

    def handle(self, *args: Any, **options: Any) -> None:
        room = selectors.room_get(slug=options["room"])
        if room is None:
            raise CommandError(f"No room with the slug {options['room']!r}.")
        try:
            message = services.message_post_system(room_id=room["id"], body=options["text"])
        except ChatError as error:
            raise CommandError(error.detail) from None
        self.stdout.write(f"Posted to {message['room']} as seq {message['seq']}.")
