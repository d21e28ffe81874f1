"""A message body rendered to the HTML clients insert: a safe Markdown subset, links,
mention chips. Pure: no Django, no I/O. markdown-it-py parses (raw HTML off, images and
headings off), then nh3 cleans the result against ALLOWED (docs/protocol.md lists it):
a mistake in one wall is caught by the other. `:shortcode:` names become their emoji in
text (never in code or in a bare link's text: chat/content/shortcodes.py)."""

import re
from collections.abc import Collection, Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from chat.content.mentions import HERE, MENTION_PATTERN, ROOM, TRAILING
from chat.content.shortcodes import emojize

# Deeper quotes and lists are cut there (markdown-it drops what lies past the limit),
# so a "> > > …" body costs no more than a shallow one.
MAX_NESTING = 20
# Bodies are at most CHAT_MAX_BODY_CHARS (4000) when saved; anything longer that reaches
# the renderer (a limit raised or lowered later, an import) is shown as escaped plain
# text. 10,000 "[" (the parser's slowest input found) take ~0.1 s; 20,000 took ~0.6 s.
MAX_RENDER_CHARS = 10_000

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Bare names become links only with these endings: with every two-letter country code,
# "config.py" and "README.md" (Paraguay, Moldova) would turn into links in a dev chat.
BARE_LINK_TLDS = ["com", "org", "net", "edu", "gov", "info", "io", "dev", "app"]

# The second wall: every element and attribute that can appear in `html`. Anything else
# is dropped (script and style with their content, other tags keeping their text).
ALLOWED: dict[str, frozenset[str]] = {
    "p": frozenset(),
    "br": frozenset(),
    "strong": frozenset(),
    "em": frozenset(),
    "s": frozenset(),
    "code": frozenset({"class"}),  # only "language-<name>"
    "pre": frozenset(),
    "blockquote": frozenset(),
    "ul": frozenset(),
    "ol": frozenset({"start"}),
    "li": frozenset(),
    "a": frozenset({"href", "rel", "target"}),  # rel and target are always set
    "span": frozenset({"class", "data-user", "data-group"}),  # only mention chips
}
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")
_USERNAME = re.compile(r"[\w.@+\-]{1,150}")


def _attribute_check(element: str, attribute: str, value: str) -> str | None:
    """Values the allow-list permits; None drops the attribute."""
    if element == "a" and attribute == "href":
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        return value if scheme in LINK_SCHEMES else None  # no relative links either
    if element == "code" and attribute == "class":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    if element == "ol" and attribute == "start":
        return value if value.isascii() and value.isdigit() and len(value) <= 9 else None
    if element == "span":
        if attribute == "class":
            return value if value == "mention" else None
        if attribute == "data-user":
            return value if _USERNAME.fullmatch(value) else None
        if attribute == "data-group":
            return value if value in (ROOM, HERE) else None
    return value  # rel and target: set by the cleaner itself


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED),
    clean_content_tags={"script", "style"},
    attributes={tag: set(attrs - {"rel"}) for tag, attrs in ALLOWED.items() if attrs},
    attribute_filter=_attribute_check,
    link_rel=LINK_REL,
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=set(LINK_SCHEMES),
    strip_comments=True,
)


def _validate_link(url: str) -> bool:
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    return scheme in LINK_SCHEMES


def _parser() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        {
            "html": False,  # "<b>" stays text
            "linkify": True,
            "breaks": True,  # a new line in the composer is a new line on screen
            "typographer": False,
            "maxNesting": MAX_NESTING,
        },
    )
    md.enable(["linkify", "strikethrough"])
    # No images (no tracking pixels), no headings, no rules, no raw HTML; entities stay
    # as typed ("&lt;" shows "&lt;"): what people paste in a chat is text, not HTML.
    md.disable(["image", "heading", "lheading", "hr", "html_block", "html_inline", "entity"])
    assert md.linkify is not None  # noqa: S101 - linkify-it-py is a dependency
    md.linkify.tlds(BARE_LINK_TLDS, False)
    md.validateLink = _validate_link  # type: ignore[method-assign]
    md.core.ruler.push("shortcodes", _shortcode_rule)
    md.core.ruler.push("mentions", _mention_rule)
    md.add_render_rule("mention", _render_mention)
    md.add_render_rule("link_open", _render_link_open)
    return md


def _render_link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    tokens[idx].attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


def _render_mention(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    attr = "data-group" if token.meta.get("group") else "data-user"
    value = token.meta.get("group") or token.meta["user"]
    return f'<span class="mention" {attr}="{_escape(value)}">{_escape(token.content)}</span>'


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _shortcode_rule(state: StateCore) -> None:
    """`:tada:` -> 🎉 in text tokens: code spans and blocks are other token types and
    keep their text; a bare link's text stays the address it links to."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        in_bare_link = 0
        for child in block.children:
            if child.type == "link_open" and child.markup in ("linkify", "autolink"):
                in_bare_link += 1
            elif child.type == "link_close" and child.markup in ("linkify", "autolink"):
                in_bare_link -= 1
            elif child.type == "text" and not in_bare_link:
                child.content = emojize(child.content)


def _mention_rule(state: StateCore) -> None:
    """Split the text of paragraphs (never code or a link's text) into text and mention
    chips, for the names the message really mentions (env: names, group)."""
    names: dict[str, str] = state.env.get("mention_names", {})
    group: str = state.env.get("mention_group", "")
    if not names and not group:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        out: list[Token] = []
        in_link = 0
        for child in block.children:
            if child.type == "link_open":
                in_link += 1
            elif child.type == "link_close":
                in_link -= 1
            if child.type == "text" and not in_link and "@" in child.content:
                out.extend(_split_mentions(child.content, names, group))
            else:
                out.append(child)
        block.children = out


def _split_mentions(text: str, names: dict[str, str], group: str) -> list[Token]:
    # The same reading of "@name." as chat.content.mentions: the longer spelling wins.
    tokens: list[Token] = []
    last = 0
    for match in MENTION_PATTERN.finditer(text):
        raw = match.group(1).lower()
        bare = raw.rstrip(TRAILING)
        meta: dict[str, Any]
        if bare in (ROOM, HERE):
            if bare != group:
                continue
            meta, length = {"group": bare}, len(bare)
        elif raw in names:
            meta, length = {"user": names[raw]}, len(raw)
        elif bare in names:
            meta, length = {"user": names[bare]}, len(bare)
        else:
            continue
        start = match.start()
        if start > last:
            tokens.append(_text(text[last:start]))
        chip = Token("mention", "span", 0)
        chip.content = text[start : start + 1 + length]
        chip.meta = meta
        tokens.append(chip)
        last = start + 1 + length
    if last < len(text):
        tokens.append(_text(text[last:]))
    return tokens


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


_MD = _parser()


# Words of letters and digits, one space, colon or comma between them: nothing Markdown,
# linkify, the mention rule or the cleaner would touch, so the parser's answer is the
# body in a paragraph. Most chat messages; the parser cost ~50 µs of a saved message's
# ~300 (tests/test_rendering.py checks the shortcut against the parser).
_PLAIN = re.compile(r"[^\W_]+(?:[ :,][^\W_]+)*")


def render(body: str, *, mentions: Collection[str] = (), group_mention: str = "") -> str:
    """The HTML of a message body. `mentions` are the members it names (as saved with the
    message) and `group_mention` "room", "here" or "": only those become chips."""
    if _PLAIN.fullmatch(body) and (":" not in body or emojize(body) == body):
        return "<p>" + body + "</p>"
    return parsed(body, mentions=mentions, group_mention=group_mention)


def parsed(body: str, *, mentions: Collection[str] = (), group_mention: str = "") -> str:
    """render without the plain-words shortcut (the tests compare the two)."""
    if len(body) > MAX_RENDER_CHARS:
        html = "<p>" + _escape(body).replace("\n", "<br>") + "</p>"
    else:
        env = {
            "mention_names": {name.lower(): name for name in mentions},
            "mention_group": group_mention,
        }
        html = _MD.render(body, env)
    return _CLEANER.clean(html).strip()


# Blocks whose end separates words in the plain reading ("a\n\nb" is "a", "b").
_BLOCK_ENDS = frozenset(
    {"paragraph_close", "list_item_close", "blockquote_close", "bullet_list_close"}
    | {"ordered_list_close"}
)


def plain_text(body: str) -> str:
    """The words of a body as a reader sees them, without Markdown marks: emphasis,
    code fences and link syntax dropped, a link's text kept (not its address), code kept
    as typed, `:shortcode:` names as emoji. For previews: search snippets, reply and
    notification excerpts. Text, not HTML: whoever shows it escapes it."""
    if len(body) > MAX_RENDER_CHARS:
        return body
    out: list[str] = []
    for token in _MD.parse(body, {}):
        if token.type in ("fence", "code_block"):
            out.append(token.content.rstrip("\n") + "\n")
        elif token.type in _BLOCK_ENDS:
            out.append("\n")
        elif token.type == "inline":
            for child in token.children or ():
                if child.type in ("text", "code_inline", "mention"):
                    out.append(child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    out.append("\n")
    return "".join(out).strip()


def plain_line(body: str, limit: int) -> str:
    """plain_text on one line, at most `limit` characters ("…" where cut): the excerpt
    of a reply, a push notification or a missed-message email."""
    line = " ".join(plain_text(body[: limit * 4]).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
