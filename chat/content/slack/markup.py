"""The card HTML's second wall (an nh3 allow-list built from rendering.ALLOWED plus the
card elements and classes) and the budgeted rendering of the texts inside cards. Pure:
no Django, no I/O; it never loosens rendering.ALLOWED itself."""

import html
import re

import nh3

from chat.content.rendering import (
    ALLOWED,
    LINK_REL,
    LINK_SCHEMES,
    MAX_RENDER_CHARS,
    _attribute_check,  # the same rules for the elements a message body may hold
    render,
)
from chat.content.shortcodes import emojize
from chat.content.slack.mrkdwn import INLINE, convert, mrkdwn_to_markdown, mrkdwn_to_plain

# Exactly the classes a card may carry, per element (docs/protocol.md lists them).
CARD_CLASSES: dict[str, frozenset[str]] = {
    "div": frozenset(
        {"card", "card-text", "card-field", "card-field card-field-short"}
        | {"blocks", "block-section", "block-rich"}
    ),
    "p": frozenset(
        {"card-pretext", "card-author", "card-title", "card-image", "card-footer"}
        | {"block-header", "block-context", "block-image"}
    ),
    "dl": frozenset({"card-fields"}),
}
CARD_ALLOWED: dict[str, frozenset[str]] = {
    **ALLOWED,
    "div": frozenset({"class", "data-color"}),
    "p": ALLOWED["p"] | {"class"},
    "dl": frozenset({"class"}),
    "dt": frozenset(),
    "dd": frozenset(),
    "hr": frozenset(),
}
COLOR = re.compile(r"#[0-9a-f]{3}(?:[0-9a-f]{3})?")

# Texts rendered as Markdown per payload, in characters, each call counting as
# RENDER_CALL_CHARS more: past it, texts are shown as escaped plain text. Bounds the
# cost of a 256 KiB payload (10,000 "[" take ~0.13 s; a small render ~50 µs).
RENDER_BUDGET_CHARS = 2 * MAX_RENDER_CHARS
RENDER_CALL_CHARS = 20


def _card_attribute_check(element: str, attribute: str, value: str) -> str | None:
    if attribute == "class" and element in CARD_CLASSES:
        return value if value in CARD_CLASSES[element] else None
    if element == "div" and attribute == "data-color":
        return value if COLOR.fullmatch(value) else None
    return _attribute_check(element, attribute, value)


CARD_CLEANER = nh3.Cleaner(
    tags=set(CARD_ALLOWED),
    clean_content_tags={"script", "style"},
    attributes={tag: set(attrs - {"rel"}) for tag, attrs in CARD_ALLOWED.items() if attrs},
    attribute_filter=_card_attribute_check,
    link_rel=LINK_REL,
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=set(LINK_SCHEMES),
    strip_comments=True,
)


def card_clean(markup: str) -> str:
    return CARD_CLEANER.clean(markup).strip()


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def escape_lines(text: str) -> str:
    return escape(text).replace("\n", "<br>")


def link(href: str, inner_html: str) -> str:
    """An anchor to an address safe_url accepted; the cleaner adds rel and target."""
    return f'<a href="{escape(href)}">{inner_html}</a>'


class Budget:
    """What is left to render for one payload: Markdown characters, and blocks."""

    __slots__ = ("blocks", "chars")

    def __init__(self, blocks: int) -> None:
        self.chars = RENDER_BUDGET_CHARS
        self.blocks = blocks

    def _take(self, markdown: str) -> bool:
        cost = len(markdown) + RENDER_CALL_CHARS
        if cost > self.chars:
            return False
        self.chars -= cost
        return True

    def block(self, mrkdwn: str) -> str:
        """mrkdwn as rendered HTML (paragraphs, quotes, code blocks)."""
        mrkdwn = mrkdwn[:MAX_RENDER_CHARS]
        markdown = mrkdwn_to_markdown(mrkdwn)
        if not markdown.strip():
            return ""
        if self._take(markdown):
            return render(markdown)
        return "<p>" + escape_lines(mrkdwn_to_plain(mrkdwn)) + "</p>"

    def inline(self, mrkdwn: str) -> str:
        """mrkdwn as phrasing HTML for a `<p>`, `<dt>` or `<dd>`: new lines as `<br>`."""
        mrkdwn = mrkdwn[:MAX_RENDER_CHARS]
        markdown = convert(mrkdwn, INLINE)
        if not markdown.strip():
            return ""
        if self._take(markdown):
            out = render(markdown)
            if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
                return out[3:-4]
        return escape_lines(mrkdwn_to_plain(mrkdwn))


def words_of(mrkdwn: str) -> str:
    """mrkdwn's plain text for the body, cut where rendering would cut it."""
    return mrkdwn_to_plain(mrkdwn[:MAX_RENDER_CHARS])


def plain_html(text: str) -> str:
    """Block Kit's plain_text: shortcodes as emoji (Slack's default), nothing else."""
    return escape_lines(emojize(text.strip()))
