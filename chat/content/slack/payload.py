"""Slack's incoming-webhook payload (and the answers of outgoing webhooks and slash
commands) read into one typed SlackMessage. Pure: no Django, no I/O, no database; the
caller checks the room, the thread and the sender's rights, and renders `markdown`."""

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from chat.content.rendering import MAX_RENDER_CHARS
from chat.content.shortcodes import emojize
from chat.content.slack.blocks import MAX_BLOCKS, blocks_draw
from chat.content.slack.cards import attachments_draw
from chat.content.slack.markup import Budget, card_clean
from chat.content.slack.mrkdwn import mrkdwn_to_markdown, mrkdwn_to_plain
from chat.content.slack.values import NO_TEXT, PayloadError, as_object, invalid, read_str

MAX_USERNAME_CHARS = 80
MAX_ICON_URL_CHARS = 500
MAX_THREAD_ID = 2**63 - 1
RESPONSE_TYPES = ("ephemeral", "in_channel")
_EMOJI_NAME = re.compile(r":?([\w+'-]{1,60}):?")
# Direction overrides and isolates: a name that reorders the text around it.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    markdown: str  # `text` as the chat's Markdown ("" when none, or when blocks replace it)
    card_html: str  # attachments and blocks as cleaned HTML ("" when none)
    fallback: str  # plain text of everything, at most max_body_chars: the message body
    username: str
    icon_url: str
    icon_emoji: str
    channel: str
    thread: int | None
    thread_here: bool
    response_type: str


def payload_parse(data: object, *, max_body_chars: int = 4000) -> SlackMessage:
    """The message a decoded Slack payload asks for. Raises PayloadError: invalid_payload
    when a field has the wrong type or a list is too long, no_text when nothing in it
    can be shown. `thread` and `thread_here` are what the payload says; whether an
    answer may use them is the caller's rule."""
    if max_body_chars < 1:
        raise ValueError("max_body_chars must be positive")
    obj = as_object(data, "the payload")
    text = read_str(obj, "text", "payload")[:MAX_RENDER_CHARS]
    budget = Budget(blocks=MAX_BLOCKS)
    blocks_html, blocks_plain = blocks_draw(obj, "payload", budget)
    cards_html, cards_plain = attachments_draw(obj, budget)
    text_plain = mrkdwn_to_plain(text)
    # Slack's rule: with blocks, `text` is only the notification's words, not shown.
    markdown = "" if blocks_html else mrkdwn_to_markdown(text)
    card_html = card_clean(blocks_html + cards_html)
    fallback = _cut(
        "\n".join(p for p in (text_plain, *blocks_plain, *cards_plain) if p), max_body_chars
    )
    if not (markdown.strip() or card_html.strip() or fallback.strip()):
        raise PayloadError(NO_TEXT, "the payload has no text, attachments or blocks to show")
    thread, thread_here = _thread(obj.get("thread"))
    response_type = read_str(obj, "response_type", "payload")
    if response_type and response_type not in RESPONSE_TYPES:
        raise invalid('payload.response_type must be "ephemeral" or "in_channel"')
    return SlackMessage(
        markdown=markdown,
        card_html=card_html,
        fallback=fallback,
        username=_username(read_str(obj, "username", "payload")),
        icon_url=_icon_url(read_str(obj, "icon_url", "payload")),
        icon_emoji=_icon_emoji(read_str(obj, "icon_emoji", "payload")),
        channel=read_str(obj, "channel", "payload").strip().removeprefix("#").lower(),
        thread=thread,
        thread_here=thread_here,
        response_type=response_type,
    )


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _thread(value: object) -> tuple[int | None, bool]:
    if value is None or value is False:
        return None, False
    if value is True:
        return None, True
    if isinstance(value, int) and 0 < value <= MAX_THREAD_ID:
        return value, False
    raise invalid("payload.thread must be a message id (a positive integer) or true")


def _username(value: str) -> str:
    kept = "".join(
        " " if char.isspace() else char
        for char in value
        if char.isspace() or (unicodedata.category(char) not in ("Cc", "Cs") and char not in _BIDI)
    )
    return " ".join(kept.split())[:MAX_USERNAME_CHARS].strip()


def _icon_url(value: str) -> str:
    url = value.strip()
    if len(url) > MAX_ICON_URL_CHARS or any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[" and other addresses urllib cannot read
        return ""
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else ""


def _icon_emoji(value: str) -> str:
    match = _EMOJI_NAME.fullmatch(value.strip())
    if not match:
        return ""
    name = f":{match.group(1)}:"
    found = emojize(name)
    return found if found != name and ":" not in found else ""
