"""The `command.run` frame (docs/protocol.md, "Slash commands"): a `/name` and the text
after it, typed by the user in a room's composer. Pure, like chat/protocol/parsing.py,
which dispatches to it: whether the name is a command is the handler's question."""

import re
from dataclasses import dataclass
from typing import Any, TypedDict

from chat.errors import ChatError
from chat.protocol import fields
from chat.protocol.codes import ErrorCode

MAX_COMMAND_TEXT_CHARS = 4000  # as a message body
# A custom command's name is a SlugField of 32; built-ins are shorter.
COMMAND_NAME = re.compile(r"/[a-z0-9_-]{1,32}")


@dataclass(frozen=True, slots=True)
class RunCommand:
    command: str  # the name without its slash, lower case
    text: str  # the arguments, as typed (stripped)
    room: str | None = None  # None on the per-room endpoint (the URL names the room)


def parse_run(data: dict[str, Any], *, all_rooms: bool) -> RunCommand:
    room = fields.room_slug(data) if all_rooms else None
    name = data.get("command")
    if not isinstance(name, str) or not COMMAND_NAME.fullmatch(name.lower()):
        raise ChatError(
            ErrorCode.BAD_FRAME, '"command" must be a slash and a name, such as "/shrug".'
        )
    text = data.get("text", "")
    if not isinstance(text, str) or len(text) > MAX_COMMAND_TEXT_CHARS:
        raise ChatError(
            ErrorCode.BAD_FRAME,
            f'"text" must be a string of at most {MAX_COMMAND_TEXT_CHARS} characters.',
        )
    return RunCommand(command=name[1:].lower(), text=text.strip(), room=room)


class CommandInfo(TypedDict):
    """A `hello.commands` entry: what the composer completes and recognises."""

    name: str  # without the slash
    description: str
    usage: str  # the arguments, e.g. "<minutes>|off"


# The built-in commands, in the order /help lists them (chat/services/commands.py runs
# them). A custom command may not take one of these names.
BUILTINS: tuple[CommandInfo, ...] = (
    {"name": "me", "description": "Say what you are doing, in italics", "usage": "<action>"},
    {"name": "shrug", "description": "Append ¯\\_(ツ)_/¯ to your message", "usage": "[text]"},
    {"name": "topic", "description": "Set the room's topic", "usage": "<text>"},
    {"name": "join", "description": "Join a room", "usage": "#room"},
    {"name": "leave", "description": "Leave this room", "usage": ""},
    {"name": "invite", "description": "Add someone to this private room", "usage": "@user"},
    {"name": "mute", "description": "No notifications from this room", "usage": ""},
    {"name": "unmute", "description": "This room's notifications as by default", "usage": ""},
    {"name": "dnd", "description": "Do not disturb for a while, or off", "usage": "<minutes>|off"},
    {"name": "help", "description": "List the commands", "usage": ""},
)
BUILTIN_NAMES = frozenset(info["name"] for info in BUILTINS)
