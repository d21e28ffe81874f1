"""Mention parsing: which names a message body addresses as @username. Pure: no Django,
no I/O; the service decides which of the names are members of the room."""

import re
from collections.abc import Iterable, Mapping

# Django usernames are letters, digits and @ . + - _ (150 at most). The look-behind
# keeps addresses (a@b.com) and doubled signs (@@x) from counting as mentions.
_MENTION = re.compile(r"(?<![\w@.+\-])@([\w.@+\-]{1,150})")
# Punctuation that ends a sentence or clause after a name ("thanks @bob.", "(@ann)"):
# tried without it too, so "@bob." finds bob, while a member really named "bob." wins.
_TRAILING = ".,:;!?)"
# For chat/content/rendering.py, which draws the chips the same way.
MENTION_PATTERN, TRAILING = _MENTION, _TRAILING


def mention_candidates(body: str) -> list[str]:
    """Every spelling the body may mean, lowercased, in order of appearance, once each:
    the token as written and the token without trailing punctuation."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(body):
        token = match.group(1).lower()
        found.setdefault(token)
        stripped = token.rstrip(_TRAILING)
        if stripped:
            found.setdefault(stripped)
    return list(found)


def mentions_resolve(body: str, members: Mapping[str, str]) -> list[str]:
    """The members the body mentions, in order of first appearance, once each.

    `members` maps lowercased usernames to their spelling; only the candidates found
    there count, so a name that is not a member of the room is plain text. For one
    token the longer spelling is preferred ("@bob." means the member "bob." if there
    is one, else "bob")."""
    found: dict[str, None] = {}
    for match in _MENTION.finditer(body):
        token = match.group(1).lower()
        for spelling in (token, token.rstrip(_TRAILING)):
            if spelling in _GROUPS:
                break  # a keyword, never a name
            if spelling in members:
                found.setdefault(members[spelling])
                break
    return list(found)


HERE = "here"
ROOM = "room"
_GROUPS = (ROOM, HERE)  # @room wins when both appear: it reaches everyone @here does


def group_mention(body: str) -> str:
    """ "room" if the body says @room, "here" if it says @here (any case, trailing
    punctuation allowed), else "". These words are keywords: a member whose username
    is "room" or "here" cannot be mentioned by name (docs/protocol.md)."""
    tokens = set(mention_candidates(body))
    for group in _GROUPS:
        if group in tokens:
            return group
    return ""


def lowered(usernames: Iterable[str]) -> dict[str, str]:
    return {name.lower(): name for name in usernames}
