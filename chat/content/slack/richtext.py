"""Block Kit's rich_text block as HTML and plain text: its containers (section, list,
preformatted, quote) and their elements (text, link, emoji, user, channel, broadcast,
…). Pure: no Django, no I/O. The nesting is Slack's: a list holds sections, never lists
(Slack writes a nested list as a sibling with an indent); anything deeper is refused."""

from collections.abc import Mapping

from chat.content.shortcodes import emojize
from chat.content.slack.markup import escape, escape_lines, link
from chat.content.slack.mrkdwn import safe_url
from chat.content.slack.values import as_object, invalid, read_objects, read_str

MAX_CONTAINERS = 100
MAX_ELEMENTS = 1000  # per container: a bound on one block's work, far past real messages
_GROUPS = {"here": "@here", "channel": "@room", "everyone": "@room"}
_REFERENCES = {"user": ("user_id", "@"), "usergroup": ("usergroup_id", "@")}
_REFERENCES["channel"] = ("channel_id", "#")
_STYLES = (("code", "code"), ("strike", "s"), ("italic", "em"), ("bold", "strong"))


def rich_text_draw(block: Mapping[str, object], where: str) -> tuple[str, str]:
    html: list[str] = []
    plain: list[str] = []
    for path, container in read_objects(block, "elements", where, MAX_CONTAINERS):
        kind = read_str(container, "type", path)
        if kind == "rich_text_section":
            inner, words = _inline(container, path, styled=True)
            html.append(f"<p>{inner}</p>" if inner else "")
        elif kind == "rich_text_quote":
            inner, words = _inline(container, path, styled=True)
            html.append(f"<blockquote><p>{inner}</p></blockquote>" if inner else "")
        elif kind == "rich_text_preformatted":
            inner, words = _inline(container, path, styled=False)
            html.append(f"<pre><code>{inner}</code></pre>" if inner else "")
        elif kind == "rich_text_list":
            inner, words = _list(container, path)
            html.append(inner)
        else:
            continue
        plain.append(words)
    return "".join(html), "\n".join(line for line in plain if line.strip())


def _list(container: Mapping[str, object], where: str) -> tuple[str, str]:
    tag = "ol" if read_str(container, "style", where) == "ordered" else "ul"
    items: list[str] = []
    words: list[str] = []
    for path, section in read_objects(container, "elements", where, MAX_ELEMENTS):
        kind = read_str(section, "type", path)
        if kind != "rich_text_section":
            raise invalid(f"{path} must be a rich_text_section, not {kind or 'untyped'}")
        inner, text = _inline(section, path, styled=True)
        if inner:
            items.append(f"<li>{inner}</li>")
            words.append(text)
    if not items:
        return "", ""
    return f"<{tag}>{''.join(items)}</{tag}>", "\n".join(words)


def _inline(container: Mapping[str, object], where: str, *, styled: bool) -> tuple[str, str]:
    """The elements of one container: (html, plain). In preformatted text (styled=False)
    links are their text and styles are not drawn."""
    html: list[str] = []
    plain: list[str] = []
    for path, element in read_objects(container, "elements", where, MAX_ELEMENTS):
        kind = read_str(element, "type", path)
        url = safe_url(read_str(element, "url", path)) if kind == "link" else None
        text = _element_text(element, kind, path)
        if not text:
            continue
        inner = escape_lines(text) if styled else escape(text)
        if url and styled:
            inner = link(url, inner)
        if styled:
            inner = _styled(element, path, inner)
        html.append(inner)
        plain.append(text)
    return "".join(html).strip(), "".join(plain).strip()


def _element_text(element: Mapping[str, object], kind: str, where: str) -> str:
    if kind == "text":
        return read_str(element, "text", where)
    if kind == "link":
        return read_str(element, "text", where) or read_str(element, "url", where)
    if kind == "emoji":
        name = read_str(element, "name", where)
        return emojize(f":{name}:") if name else ""
    if kind in _REFERENCES:
        key, sign = _REFERENCES[kind]
        name = read_str(element, key, where).strip()
        return sign + name if name else ""
    if kind == "broadcast":
        return _GROUPS.get(read_str(element, "range", where), "")
    if kind == "date":
        return read_str(element, "fallback", where)
    return ""  # color, unknown: nothing to read


def _styled(element: Mapping[str, object], where: str, inner: str) -> str:
    style = element.get("style")
    if style is None:
        return inner
    flags = as_object(style, f"{where}.style")
    for key, tag in _STYLES:
        if flags.get(key) is True:
            inner = f"<{tag}>{inner}</{tag}>"
    return inner
