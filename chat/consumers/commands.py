"""The client frames of a chat connection: each parsed command becomes one service or
selector call (reads on the read threads, writes on the database thread, sends through
the process's group-commit writer) and at most one answer frame."""

import asyncio
import json
import logging
from typing import Any

from django.conf import settings

from chat import events, selectors, services
from chat.consumers.rooms import RoomChanges
from chat.database import dbcalls, group_commit
from chat.errors import ChatError
from chat.limits import policy
from chat.presence.typing_notice import typing_announce
from chat.protocol import parsing
from chat.protocol.codes import ErrorCode
from chat.realtime.connection import Stream
from chat.services.posting import SendRequest

logger = logging.getLogger(__name__)

NOT_JOINED = ChatError(ErrorCode.NOT_JOINED, "You have not joined this room.")


class Commands(RoomChanges):
    async def _handle(self, command: parsing.Command) -> None:
        user = self.scope["user"]
        frame: dict[str, object]
        match command:
            case parsing.SendMessage(body=body, client_id=client_id, room=slug, reply_to=reply):
                stream = self._joined(slug)
                await policy.current().message_check(user.pk)
                # Saved with the other sends of this process that come meanwhile (one
                # transaction), published, then acknowledged.
                message = await group_commit.current().post(
                    SendRequest(
                        room_id=stream.room_id,
                        author=user,
                        body=body,
                        client_id=client_id,
                        reply_to=reply,
                    )
                )
                frame = {"type": "ack", "client_id": client_id, "message": message}
            case parsing.FetchHistory(
                before=before, limit=limit, room=slug, after=after, around=around
            ):
                room_id = await self._readable(slug)
                messages = await dbcalls.read(
                    services.history_page,
                    room_id=room_id,
                    user=user,
                    before=before,
                    limit=limit,
                    after=after,
                    around=around,
                )
                # The answer names the read as it was asked (before, after or around).
                if around is not None:
                    frame = {"type": "history", "around": around, "messages": messages}
                elif after is not None:
                    frame = {"type": "history", "after": after, "messages": messages}
                else:
                    frame = {"type": "history", "before": before, "messages": messages}
            case parsing.EditMessage(id=message_id, body=body):
                # Answered by the message.updated broadcast (or an error).
                await dbcalls.write(
                    services.message_edit, message_id=message_id, user=user, body=body
                )
                return
            case parsing.DeleteMessage(id=message_id):
                await dbcalls.write(services.message_delete, message_id=message_id, user=user)
                return
            case parsing.React(message_id=message_id, emoji=text, added=added):
                # Every reaction is broadcast to the room: it draws from the sender's
                # message budget, so toggling one emoji cannot flood a room.
                await policy.current().message_check(user.pk)
                reaction, changed = await dbcalls.write(
                    services.reaction_set,
                    message_id=message_id,
                    user=user,
                    emoji_text=text,
                    added=added,
                    room_ids=set(self.streams),
                )
                if changed:
                    return  # answered by the reaction broadcast (this connection too)
                frame = dict(reaction)  # nothing changed: the state, to this one only
            case parsing.Typing(room=slug):
                # Unanswered; a client typing faster than the interval is simply thinned.
                stream = self._joined(slug)
                now = asyncio.get_running_loop().time()
                last = self._last_typing_at.get(stream.room_id, float("-inf"))
                if now - last >= settings.CHAT_TYPING_MIN_INTERVAL_SECONDS:
                    self._last_typing_at[stream.room_id] = now
                    await self._announce_typing(stream)
                return
            case parsing.ReadRoom(room=slug, seq=seq):
                self._joined(slug)
                slug, read, changed = await dbcalls.write(
                    services.room_read, user=user, slug=slug, seq=seq
                )
                if changed:
                    return  # every connection of the user, this one too, gets room.read
                frame = {"type": "room.read", **read}
            case parsing.JoinRoom(room=slug):
                state, newly = await dbcalls.write(services.room_join, user=user, slug=slug)
                if newly:
                    return  # room.joined comes to every connection through the hub
                await self._room_joined(state["id"], state["slug"])
                return
            case parsing.LeaveRoom(room=slug):
                if slug not in self.by_slug or not self.by_slug[slug].counted:
                    raise NOT_JOINED
                # Answered by room.left, which every connection of the user gets.
                await dbcalls.write(services.room_leave, user=user, slug=slug)
                return
            case parsing.WatchRoom(room=slug):
                await self._watch(slug)
                return
            case parsing.FetchOnline(room=slug):
                room_id = await self._readable(slug)
                hub = await self.runtime.hub()
                online, count = await hub.online(room_id, settings.CHAT_HELLO_ONLINE_LIMIT)
                frame = {"type": "online", "online": online, "online_count": count}
            case parsing.SetNotifyLevel(room=slug, level=level):
                # Answered by room.notify, which every connection of the user gets.
                await dbcalls.write(services.notify_level_set, user=user, slug=slug, level=level)
                return
            case parsing.PauseNotifications(until=until):
                # Answered by notify.prefs, which every connection of the user gets.
                await dbcalls.write(services.notify_prefs_set, user=user, paused_until=until)
                return
            case parsing.SearchMembers(room=slug, prefix=prefix):
                room_id = await self._readable(slug)
                found = await dbcalls.read(
                    selectors.room_members_matching, room_id=room_id, prefix=prefix
                )
                frame = {"type": "members", "prefix": prefix, "members": found}
        if self.all_rooms:
            frame = {"type": frame["type"], "room": getattr(command, "room", None), **frame}
        await self._send_text(events.encode(frame))

    def _joined(self, slug: str | None) -> Stream:
        """The stream of a room the user joined (the per-room endpoint: its room).
        A local lookup: joins and leaves reach this connection as events."""
        if slug is None:
            return next(iter(self.streams.values()))
        stream = self.by_slug.get(slug)
        if stream is None or not stream.counted:
            raise NOT_JOINED
        return stream

    async def _readable(self, slug: str | None) -> int:
        """The id of a room the user may read (access itself is the service's check)."""
        if slug is None:
            return next(iter(self.streams))
        stream = self.by_slug.get(slug)
        if stream is not None:
            return stream.room_id
        room, access = await dbcalls.read(
            selectors.room_with_access, slug=slug, user_id=self.user_id
        )
        if room is None:
            raise ChatError(ErrorCode.ROOM_NOT_FOUND, "No such room.")
        if not access["read"]:
            raise ChatError(access["code"] or ErrorCode.FORBIDDEN, access["detail"])
        return int(room["id"])

    async def _announce_typing(self, stream: Stream) -> None:
        # Never answered, not even on failure: a reply would be taken for the answer to
        # the client's previous send. Someone who may not write is not shown typing.
        try:
            access = await dbcalls.read(
                selectors.access_for, room_id=stream.room_id, user_id=self.user_id
            )
            if access["write"]:
                await typing_announce(
                    room_id=stream.room_id, slug=stream.slug, username=self.username
                )
        except Exception:
            logger.exception("typing announce failed room=%s", stream.slug)


def client_id_of(command: parsing.Command | None) -> str | None:
    return command.client_id if isinstance(command, parsing.SendMessage) else None


def named_room(text: str | None) -> str | None:
    """The room a frame that could not be parsed names, for its error (best effort)."""
    if not text:
        return None
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    room = data.get("room") if isinstance(data, dict) else None
    return room if isinstance(room, str) and len(room) <= parsing.MAX_SLUG_CHARS else None
