"""What a message adds to its body when a tool posts it (a Slack payload: incoming
webhooks, bots' answers, commands): the rich content rendered after the body's Markdown,
and the look a bot's message may wear. Used by the one write path (posting.py)."""

from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.auth.models import User

from chat.content import rendering


@dataclass(frozen=True, slots=True)
class RichContent:
    """A message whose look is richer than its body (a Slack payload's attachments and
    blocks, chat/content/slack): `markdown` is rendered as any body is, `card_html`
    (already cleaned by its own allow-list) follows it; the body is the plain-text
    fallback that search, notifications and mentions read."""

    markdown: str
    card_html: str = ""


@dataclass(frozen=True, slots=True)
class PostedAs:
    """The name and avatar a bot's message shows (a hook's `username`, `icon_url` or
    `icon_emoji`); ignored for a person's message: only a bot may wear another look."""

    name: str = ""
    avatar: str = ""  # a URL the page's CSP allows (the hook checked it)
    emoji: str = ""


def rich_html(
    body: str, rich: RichContent | None, mentions: Collection[str], group_mention: str
) -> str:
    """A message's html: its body rendered, or for a rich message its Markdown rendered
    (mention chips and all) followed by its card HTML."""
    # A rich message with nothing of its own to show (a Slack attachment with only its
    # `fallback`) shows its body, as any message does.
    if rich is None or not (rich.markdown or rich.card_html):
        return rendering.render(body, mentions=mentions, group_mention=group_mention)
    html = rendering.render(rich.markdown, mentions=mentions, group_mention=group_mention)
    return html + rich.card_html


def posted_as_columns(look: PostedAs | None, author: User | None) -> dict[str, str]:
    """The message's as_* columns (empty for the server's own messages; the selectors
    show them only for a bot's)."""
    if look is None or author is None:
        return {}
    return {"as_name": look.name, "as_avatar": look.avatar, "as_emoji": look.emoji}
