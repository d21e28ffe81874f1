"""Slack mrkdwn -> the chat's Markdown subset (chat/content/rendering.py), or -> plain text.
Pure string work: no Django, no I/O, no HTML (whoever renders the result cleans it).

Slack's marks (`*bold*`, `_italic_`, `~strike~`, code, fences, `>` quotes, `<...>`
links and mentions, `&lt;` `&gt;` `&amp;`) become CommonMark; every other character
CommonMark would read as syntax is backslash-escaped, so `2*3*4` or `[x](y)` stay text.
"""

import re
from collections.abc import Callable

from chat.content.shortcodes import emojize

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_URL_CHARS = 2000

# Converted pieces are kept out of the later passes as one placeholder character each,
# from Unicode's plane-15 private use area; the same characters in the input become
# U+FFFD first, so a payload cannot forge one. Lone surrogates (valid JSON, not valid
# UTF-8, refused by nh3) become U+FFFD too.
_SENTINEL_BASE = 0xF0000
_UNSAFE = re.compile("[\U000f0000-\U000fffff\ud800-\udfff]")
_SENTINEL = re.compile("[\U000f0000-\U000fffff]")

_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}
# One Slack token on a line: inline code, an angle-bracket entity, or a bare address.
_TOKEN = re.compile(r"`([^`\n]+)`|<([^<>\n]*)>|((?:https?://|www\.)[^\s<>`]+)", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\"*_~"
# Slack's emphasis: the mark stands apart from words on the outside and touches the
# text on the inside; one line at most ("snake_case_name" and "2*3*4" are not marks).
_EMPHASIS = {
    mark: re.compile(
        rf"(?<![\w{re.escape(mark)}]){re.escape(mark)}(?!\s)([^{re.escape(mark)}]+?)"
        rf"(?<!\s){re.escape(mark)}(?![\w{re.escape(mark)}])"
    )
    for mark in "*_~"
}
_MARKDOWN = {"*": "**", "_": "_", "~": "~~"}
_ESCAPE = re.compile(r"([\\`*_~\[\]<>|])")
_LIST_START = re.compile(r"^([-+])(?=\s|$)|^(\d{1,9})([.)])(?=\s|$)")
_QUOTE = re.compile(r"^(?:>|&gt;)(>>|&gt;&gt;)? ?")

BLOCK, INLINE, PLAIN = "block", "inline", "plain"


def decode_entities(text: str) -> str:
    """Slack's three escapes, decoded once ("&amp;lt;" is the text "&lt;")."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def safe_url(url: str) -> str | None:
    """`url` (entities decoded, spaces trimmed) when it is an http, https or mailto
    address a link may point to, else None: no other scheme, no relative address, no
    control character or space inside (a "java\\tscript:" trick), bounded length."""
    url = decode_entities(url).strip()
    if not url or len(url) > MAX_URL_CHARS or any(ord(c) <= 0x20 or c == "\x7f" for c in url):
        return None
    scheme, colon, rest = url.partition(":")
    if not colon or scheme.lower() not in LINK_SCHEMES:
        return None
    if scheme.lower() != "mailto" and not (rest.startswith("//") and len(rest) > 2):
        return None
    return url


def mrkdwn_to_markdown(text: str) -> str:
    """Slack mrkdwn as the chat's Markdown: what rendering.render shows as Slack would."""
    return convert(text, BLOCK)


def mrkdwn_to_plain(text: str) -> str:
    """The words of mrkdwn as a reader sees them: marks dropped, a link's label kept
    (its address when it has none), `<!here>` as "@here", shortcodes as emoji."""
    return emojize(convert(text, PLAIN)).strip()


def convert(text: str, mode: str) -> str:
    """mrkdwn in one of three modes: BLOCK (Markdown with quotes and fenced code),
    INLINE (Markdown that renders as one paragraph: for a card's one-line parts) or
    PLAIN (text, nothing escaped)."""
    text = _UNSAFE.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))
    chunks = text.split("```")
    if len(chunks) % 2 == 0:  # an unpaired fence is text
        chunks[-2:] = [chunks[-2] + "```" + chunks[-1]]
    out: list[str] = []
    for index, chunk in enumerate(chunks):
        if index % 2:
            out.append(_fence(chunk, mode))
            continue
        if index > 0 and mode == BLOCK:
            chunk = chunk.removeprefix("\n")
        if index < len(chunks) - 1 and mode == BLOCK:
            chunk = chunk.removesuffix("\n")
        out.append(_lines(chunk, mode))
    if mode == BLOCK:
        return "\n".join(part for part in out if part).strip("\n")
    return ("\n" if mode == PLAIN else " ").join(part for part in out if part).strip()


def _fence(code: str, mode: str) -> str:
    code = _code_text(code.removeprefix("\n").removesuffix("\n"))
    if mode == PLAIN:
        return code
    if mode == INLINE:
        return _code_span(code.replace("\n", " "))
    return "```\n" + code + "\n```"


def _code_span(code: str) -> str:
    if not code.strip():
        return ""
    longest = max((len(run) for run in re.findall("`+", code)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {code} {ticks}" if longest or code[0] == " " else f"`{code}`"


def _code_text(code: str) -> str:
    """Code keeps its characters; Slack's tokens inside show their text."""
    return decode_entities(re.sub(r"<([^<>\n]*)>", lambda m: _token_text(m.group(1)), code))


def _lines(chunk: str, mode: str) -> str:
    out: list[str] = []
    quote_all = False
    quoted_before = False
    for raw in chunk.split("\n"):
        quoted = quote_all
        match = _QUOTE.match(raw) if mode != INLINE and not quote_all else None
        if match:
            quoted = True
            quote_all = bool(match.group(1))
            raw = raw[match.end() :]
        line = _inline(raw.strip(), mode)
        if mode == PLAIN:
            out.append(line)
            continue
        if mode == BLOCK and quoted:
            out.append("> " + line if line else ">")
        else:
            if quoted_before and mode == BLOCK:
                out.append("")  # a plain line after a quote would continue it
            out.append(_LIST_START.sub(_escape_list_start, line))
        quoted_before = quoted
    if mode == INLINE:
        return "\n".join(line for line in out if line)
    return "\n".join(out)


def _escape_list_start(match: re.Match[str]) -> str:
    if match.group(1):
        return "\\" + match.group(1)
    return match.group(2) + "\\" + match.group(3)


def _inline(line: str, mode: str) -> str:
    pieces: list[str] = []

    def keep(piece: str) -> str:
        pieces.append(piece)
        return chr(_SENTINEL_BASE + len(pieces) - 1)

    def emphasis(wrap: str) -> Callable[[re.Match[str]], str]:
        return lambda match: keep(wrap) + match.group(1) + keep(wrap)

    parts: list[str] = []
    last = 0
    for match in _TOKEN.finditer(line):
        parts.append(line[last : match.start()])
        piece, rest = _token(match, mode)
        parts.extend((keep(piece), rest))  # a bare address's trailing marks stay text
        last = match.end()
    line = "".join(parts) + line[last:]
    for mark, markdown in _MARKDOWN.items():
        if mark in line:
            line = _EMPHASIS[mark].sub(emphasis("" if mode == PLAIN else markdown), line)
    line = decode_entities(line)
    if mode != PLAIN:
        line = _ESCAPE.sub(r"\\\1", line)
    return _SENTINEL.sub(lambda m: pieces[ord(m.group(0)) - _SENTINEL_BASE], line)


def _token(match: re.Match[str], mode: str) -> tuple[str, str]:
    """The converted token, and the text after it that is not part of it."""
    code, angle, bare = match.group(1), match.group(2), match.group(3)
    if code is not None:
        text = _code_text(code)
        return (text if mode == PLAIN else _code_span(text)), ""
    if angle is not None:
        return _angle(angle, mode), ""
    # A bare address ends before trailing punctuation and unbalanced ")" ("(see x.com).").
    trimmed = bare.rstrip(_TRAILING_PUNCTUATION)
    while trimmed.endswith(")") and trimmed.count(")") > trimmed.count("("):
        trimmed = trimmed[:-1].rstrip(_TRAILING_PUNCTUATION)
    rest = bare[len(trimmed) :]
    href = safe_url(trimmed if "://" in trimmed else "http://" + trimmed)
    if mode == PLAIN:
        return decode_entities(trimmed), rest
    if href is None:
        return _escape_text(decode_entities(trimmed)), rest
    if "://" in trimmed:  # an autolink: the address is its text, with no escapes to split it
        return "<" + _quote_url(href) + ">", rest
    return _link(decode_entities(trimmed), href), rest


def _angle(inner: str, mode: str) -> str:
    target, bar, label = inner.partition("|")
    label = decode_entities(label).strip()
    if target.startswith(("!", "@", "#")):
        text = _special(target, label)
        return text if mode == PLAIN else _escape_text(text)
    href = safe_url(target)
    if href is None:  # not a link Slack would draw: the text as written
        text = label if bar and label else "<" + decode_entities(inner) + ">"
        return text if mode == PLAIN else _escape_text(text)
    if mode == PLAIN:
        return label or href
    if not label:
        return "<" + _quote_url(href) + ">"
    return _link(label, href)


def _link(label: str, href: str) -> str:
    return "[" + _escape_text(label) + "](<" + _quote_url(href) + ">)"


def _quote_url(url: str) -> str:
    """Characters that would end an autolink or a `<...>` destination, percent-encoded."""
    return "".join(f"%{ord(c):02X}" if c in "<>\\ " else c for c in url)


def _escape_text(text: str) -> str:
    return _ESCAPE.sub(r"\\\1", text)


def _token_text(inner: str) -> str:
    target, _, label = inner.partition("|")
    label = decode_entities(label).strip()
    if target.startswith(("!", "@", "#")):
        return _special(target, label)
    return label or decode_entities(target)


_GROUPS = {"here": "@here", "channel": "@room", "everyone": "@room"}


def _special(target: str, label: str) -> str:
    """`<!here>`, `<@name>`, `<#slug|name>`, `<!date^…|fallback>` as the chat's text."""
    kind, name = target[0], decode_entities(target[1:]).strip()
    if kind == "@":
        return "@" + name if name else label
    if kind == "#":
        return "#" + (label or name) if (label or name) else ""
    keyword = name.split("^", 1)[0].lower()
    if keyword in _GROUPS:
        return _GROUPS[keyword]
    return label  # dates, user groups, unknown commands: their fallback text or nothing
