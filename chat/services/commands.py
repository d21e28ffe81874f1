"""The built-in slash commands' rules (docs/protocol.md, "Slash commands"): what each
does, through the services that already own it (joining, leaving, members, levels, do
not disturb), plus the two that only shape a message (/me, /shrug) and the topic. No
socket here: chat/consumers/commands.py parses the text and calls these."""

import re
import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from chat import events
from chat.content.rendering import plain_text, render
from chat.errors import ChatError
from chat.events.frames import RoomUpdatedFrame
from chat.models import Room
from chat.protocol.codes import ErrorCode
from chat.protocol.command_frames import CommandInfo
from chat.services.posting import RichContent, message_post_system
from chat.services.rooms import _can_manage, membership_add

SHRUG = "¯\\_(ツ)_/¯"
# The same, escaped for the Markdown the message is rendered from.
_SHRUG_MARKDOWN = "¯\\\\\\_(ツ)\\_/¯"
MAX_TOPIC_CHARS = 200  # Room.topic
MAX_DND_MINUTES = 366 * 24 * 60  # as notify.pause's longest


def me_content(action: str) -> tuple[str, RichContent]:
    """/me <action>: the body (plain) and the rich content (in italics)."""
    if not action:
        raise ChatError(ErrorCode.EMPTY_BODY, "Usage: /me <action>")
    # Underscores inside would end Markdown's emphasis early; a star pair does not.
    return action, RichContent(
        markdown=f"*{action}*" if "*" not in action else action, card_html=""
    )


def shrug_content(text: str) -> tuple[str, RichContent]:
    """/shrug [text]: the text with the shrug after it (kept literal, not emphasis)."""
    body = f"{text} {SHRUG}" if text else SHRUG
    markdown = f"{text} {_SHRUG_MARKDOWN}" if text else _SHRUG_MARKDOWN
    return body, RichContent(markdown=markdown, card_html="")


@transaction.atomic
def room_topic_set(*, user: User, room_id: int, topic: str) -> str:
    """Set a room's topic: staff or the room's owner (who may edit the room; never a
    direct conversation). A system message tells the room, so every client sees it
    live and it stays in the history. Returns the topic stored."""
    topic = " ".join(topic.split())
    if not topic:
        raise ChatError(ErrorCode.EMPTY_BODY, "Usage: /topic <text>")
    if len(topic) > MAX_TOPIC_CHARS:
        raise ChatError(
            ErrorCode.BODY_TOO_LONG, f"A topic has at most {MAX_TOPIC_CHARS} characters."
        )
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    if not _can_manage(room, user):
        raise ChatError(ErrorCode.FORBIDDEN, "Only the room's owner or staff set its topic.")
    room.topic = topic
    room.save(update_fields=["topic"])
    name = user.get_username()
    message_post_system(room_id=room.pk, body=f"@{name} set the topic: {topic}")
    # Every connection of the room redraws its header (the message says who set it).
    updated: RoomUpdatedFrame = {"type": "room.updated", "room": room.slug, "topic": topic}
    events.publish_on_commit(events.room_frame(room.pk, updated))
    return topic


ROOM_ARGUMENT = re.compile(r"#?([-a-zA-Z0-9_]{1,50})")
USER_ARGUMENT = re.compile(r"@?([\w.@+-]{1,150})")


def room_argument(text: str) -> str:
    """The slug of /join's `#room` (the # is optional)."""
    match = ROOM_ARGUMENT.fullmatch(text.strip())
    if match is None:
        raise ChatError(ErrorCode.BAD_FRAME, "Usage: /join #room")
    return match.group(1).lower()


def user_argument(text: str) -> str:
    """The username of /invite's `@user` (the @ is optional)."""
    match = USER_ARGUMENT.fullmatch(text.strip())
    if match is None:
        raise ChatError(ErrorCode.BAD_FRAME, "Usage: /invite @user")
    return match.group(1)


def member_invite(*, actor: User, room_id: int, username: str) -> str:
    """/invite @user: add someone to a private room (its owner or staff, the rules of
    membership_add). Returns the invited user's username."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
    if not room.is_private or room.is_direct:
        raise ChatError(
            ErrorCode.FORBIDDEN,
            f"Anyone may join a public room: tell them #{room.slug}."
            if not room.is_private
            else "A direct conversation has two people.",
        )
    invited = User.objects.filter(username=username, is_active=True).first()
    if invited is None:
        raise ChatError(ErrorCode.NOT_FOUND, f"No active user @{username}.")
    membership_add(room=room, user=invited, actor=actor)
    return invited.get_username()


def dnd_until(text: str) -> datetime | None:
    """/dnd <minutes>|off: when do not disturb ends (None: off now)."""
    word = text.strip().lower()
    if word == "off":
        return None
    if not word.isdigit() or not 1 <= int(word) <= MAX_DND_MINUTES:
        raise ChatError(
            ErrorCode.BAD_FRAME, f"Usage: /dnd <minutes>|off (1 to {MAX_DND_MINUTES} minutes)"
        )
    return timezone.now() + timedelta(minutes=int(word))


def ephemeral_frame(
    slug: str | None, markdown: str, *, card_html: str = "", text: str = ""
) -> dict[str, object]:
    """An `ephemeral` frame: for the caller alone, never stored. Rendered like a
    message (the same allow-list; card_html is already cleaned by the Slack parser)."""
    return {
        "type": "ephemeral",
        "room": slug,
        "html": render(markdown) + card_html,
        "text": text or plain_text(markdown),
    }


def help_markdown(commands: list[CommandInfo]) -> str:
    """/help's answer: every command the composer offers, one a line."""
    lines = []
    for info in commands:
        usage = f" {info['usage']}" if info["usage"] else ""
        lines.append(f"- `/{info['name']}{usage}` {info['description']}".rstrip())
    return "Commands:\n\n" + "\n".join(lines)


def client_id_new() -> str:
    """A command's message has no client_id from the client (command.run carries none):
    a fresh one, so the write path's idempotency never takes it for a resend."""
    return f"cmd-{uuid.uuid4().hex}"
