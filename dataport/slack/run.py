"""One `manage.py slack_import` run: users, then conversations, then each chosen
conversation's messages; returns the summary. The command (transport) only parses
options and prints."""

from typing import TextIO

from django.conf import settings

from dataport.slack.archive import SlackArchive
from dataport.slack.convert import Names
from dataport.slack.importer import Context, messages_import
from dataport.slack.people import people_import
from dataport.slack.rooms import LISTS, conversations_read, rooms_import
from dataport.slack.summary import Progress, Summary


def slack_import(
    path: str, *, rooms: set[str], dry_run: bool, progress_to: TextIO | None = None
) -> Summary:
    """Import the export at `path` (only the conversations named in `rooms`, by name or
    id, when given). Raises ArchiveError for a file that is not a Slack export."""
    summary = Summary()
    with SlackArchive(path) as archive:
        # users.json is read element by element, but its users are all needed at once
        # (ids -> accounts for every message): one small dict each.
        people = people_import(list(archive.items("users.json")), summary, dry_run=dry_run)
        every = conversations_read((kind, archive.items(name)) for name, kind in LISTS)
        wanted = {name.strip().lower() for name in rooms if name.strip()}
        chosen = [c for c in every if c.chosen(wanted)]
        if len(chosen) < len(every):
            summary.skipped("rooms", "not in --rooms", len(every) - len(chosen))
        rooms_import(chosen, people, summary, dry_run=dry_run)
        names = Names(
            users=people.names,
            rooms={c.slack_id: (c.slug, c.name) for c in every if c.slug},
            site_url=settings.CHAT_SITE_URL,
        )
        total = sum(day.size for c in chosen for day in archive.days(c.folder))
        progress = Progress(total, progress_to)
        ctx = Context(archive, people, names, summary, progress, dry_run)
        for conversation in chosen:
            if conversation.room_id or (dry_run and conversation.slug):
                messages_import(conversation, ctx)
            else:
                days = archive.days(conversation.folder)
                progress.advance(sum(d.size for d in days), 0)
        progress.draw(final=True)
    return summary
