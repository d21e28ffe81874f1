"""`command.run`: a slash command typed in a room's composer (docs/protocol.md, "Slash
commands"). Built-ins call chat's services; any other name is a custom command, run by
integrations/commands.py (only the transport may call integrations). A built-in that
cannot do what it was asked answers the caller alone with an `ephemeral` line, never an
error frame: `forbidden` would tell the client it lost the room."""

from chat import services
from chat.consumers.rooms import RoomChanges
from chat.consumers.state import ConnectionState
from chat.database import dbcalls, group_commit
from chat.errors import ChatError
from chat.limits import policy
from chat.protocol.command_frames import BUILTIN_NAMES, RunCommand
from chat.realtime.connection import Stream
from chat.services import commands as builtin
from chat.services.posting import RichContent, SendRequest
from integrations import commands as custom

Answer = dict[str, object] | None


def _slug(state: ConnectionState, stream: Stream) -> str | None:
    # On the per-room endpoint the answer names no room, as its other frames.
    return stream.slug if state.all_rooms else None


async def run(state: ConnectionState, rooms: RoomChanges, c: RunCommand) -> Answer:
    stream = state.joined(c.room)
    if c.command not in BUILTIN_NAMES:
        return await custom.command_run(
            user=state.user,
            room_id=stream.room_id,
            slug=stream.slug,
            name=c.command,
            text=c.text,
            answer_room=_slug(state, stream),
        )
    try:
        note = await _builtin(state, rooms, stream, c)
    except ChatError as error:
        note = error.detail
    return None if note is None else builtin.ephemeral_frame(_slug(state, stream), note)


async def message_post(state: ConnectionState, room_id: int, body: str, rich: RichContent) -> None:
    """Post the caller's message as message.send would (the same budget and path)."""
    await policy.current().message_check(state.user.pk)
    await group_commit.current().post(
        SendRequest(
            room_id=room_id,
            author=state.user,
            body=body,
            client_id=builtin.client_id_new(),
            rich=rich,
        )
    )


async def _builtin(
    state: ConnectionState, rooms: RoomChanges, stream: Stream, c: RunCommand
) -> str | None:
    """Run one built-in; what to tell the caller (None: the broadcast says it)."""
    user, text = state.user, c.text
    if c.command in ("me", "shrug"):
        body, rich = builtin.me_content(text) if c.command == "me" else builtin.shrug_content(text)
        await message_post(state, stream.room_id, body, rich)
        return None
    if c.command == "topic":
        await dbcalls.write(builtin.room_topic_set, user=user, room_id=stream.room_id, topic=text)
        return None  # the system message tells everyone
    if c.command == "join":
        slug = builtin.room_argument(text)
        room, newly = await dbcalls.write(services.room_join, user=user, slug=slug)
        if not newly and state.all_rooms:
            await rooms.joined(room["id"], room["slug"])
        return f"You joined #{room['slug']}." if newly else f"You are in #{room['slug']} already."
    if c.command == "leave":
        await dbcalls.write(services.room_leave, user=user, slug=stream.slug)
        return None  # room.left reaches every connection of the user
    if c.command == "invite":
        name = await dbcalls.write(
            builtin.member_invite,
            actor=user,
            room_id=stream.room_id,
            username=builtin.user_argument(text),
        )
        return f"@{name} is now a member of #{stream.slug}."
    if c.command in ("mute", "unmute"):
        level = "nothing" if c.command == "mute" else ""
        await dbcalls.write(services.notify_level_set, user=user, slug=stream.slug, level=level)
        if level:
            return f"#{stream.slug} is muted: no notifications from it. /unmute ends it."
        return f"#{stream.slug} notifies you as by default again."
    if c.command == "dnd":
        until = builtin.dnd_until(text)
        await dbcalls.write(services.notify_prefs_set, user=user, paused_until=until)
        if until is None:
            return "Do not disturb is off."
        return f"Do not disturb until {until:%H:%M} UTC ({text.strip()} minutes)."
    # /help
    listed = await dbcalls.read(custom.commands_list)
    return builtin.help_markdown(listed)
