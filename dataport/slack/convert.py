"""Slack message text and reactions as ours. Pure (no Django, no I/O): mrkdwn goes
through chat/content/slack/mrkdwn.py (the pure Slack reader) once the Slack ids in it
are replaced by the names they stand for here.

`<@U123>` -> `@username`; `<#C123|name>` -> a link to the imported room (when
CHAT_SITE_URL is set: the renderer only draws absolute links) or `#name`; `<url|label>`,
`<!here>`, `<!channel>` and entities as the reader converts them.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from chat.content import emoji
from chat.content.shortcodes import emojize
from chat.content.slack.mrkdwn import mrkdwn_to_markdown, mrkdwn_to_plain

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_USER_DONE = re.compile(r"@([UW][A-Z0-9]+)\b")
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^<>]*))?>")


@dataclass(frozen=True, slots=True)
class Names:
    """What Slack ids stand for here: user id -> username, channel id -> (slug, name)."""

    users: Mapping[str, str]
    rooms: Mapping[str, tuple[str, str]]
    site_url: str = ""  # CHAT_SITE_URL, "" when unset


def text_convert(text: str, names: Names) -> str:
    """A Slack message's mrkdwn as the chat's Markdown."""

    def user(match: re.Match[str]) -> str:
        # The id stays through the reader (it escapes "_" in text, which would split
        # "@john_doe"); it is replaced by the username in the converted text.
        return f"<@{match.group(1)}>" if match.group(1) in names.users else "<@unknown>"

    def channel(match: re.Match[str]) -> str:
        found = names.rooms.get(match.group(1))
        label = (match.group(2) or (found[1] if found else "") or "channel").strip()
        if found and names.site_url:
            return f"<{names.site_url.rstrip('/')}/chat/{found[0]}/|#{label}>"
        return f"<#{found[0] if found else match.group(1)}|{label}>"

    if "<" not in text:
        return mrkdwn_to_markdown(text)
    text = mrkdwn_to_markdown(_CHANNEL.sub(channel, _USER.sub(user, text)))
    return _USER_DONE.sub(lambda m: "@" + names.users.get(m.group(1), m.group(1)), text)


def plain_convert(text: str) -> str:
    """Topic and purpose: mrkdwn as plain text."""
    return mrkdwn_to_plain(text)


def reaction_emoji(name: str) -> str | None:
    """A Slack reaction name ("+1", "tada", "thumbsup::skin-tone-3") as one of the emoji
    a reaction may be here, or None (custom emoji, or one outside our set)."""
    base = name.split("::", 1)[0]
    found = emojize(f":{base}:")
    if found == f":{base}:":
        return None
    return emoji.emoji_clean(found)


def ts_decimal(ts: object) -> Decimal | None:
    """A Slack ts ("1712345678.000200") as a Decimal, None when it is not one."""
    if not isinstance(ts, str | int | float):
        return None
    try:
        value = Decimal(str(ts))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None


def ts_time(ts: Decimal) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)
