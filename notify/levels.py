"""Notification rules. Pure: no Django, no I/O (tested without a database)."""

from datetime import datetime
from enum import StrEnum


class Level(StrEnum):
    ALL = "all"
    MENTIONS = "mentions"
    NOTHING = "nothing"


def effective_level(stored: str, *, is_direct: bool) -> Level:
    """The level that applies: the member's choice, else all for a direct conversation
    and mentions for every other room, whatever its size (one rule people can predict)."""
    if stored:
        return Level(stored)
    return Level.ALL if is_direct else Level.MENTIONS


def wants(level: Level, *, mentioned: bool) -> bool:
    """Whether a message (mentioning the reader or not) is worth a notification."""
    if level is Level.ALL:
        return True
    return level is Level.MENTIONS and mentioned


def wants_reply(level: Level, *, mentioned: bool, following: bool, in_room: bool) -> bool:
    """Whether a reply in a thread is worth a notification. Mentions count as anywhere;
    following the thread (with "replies in threads I follow" on) counts unless the
    room is silenced; `all` covers only what the room's timeline shows (a reply also
    sent to the room), so a reply kept in its thread does not wake the whole room."""
    if level is Level.NOTHING:
        return False
    return mentioned or following or (in_room and level is Level.ALL)


def paused(paused_until: datetime | None, now: datetime) -> bool:
    return paused_until is not None and paused_until > now
