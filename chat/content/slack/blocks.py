"""Block Kit blocks as card HTML and plain text. Pure: no Django, no I/O. Validates each
block as it draws it; unknown block types (actions, input, file, …) are skipped.

    <div class="blocks">
      <div class="block-section"> (its text; fields as <dl class="card-fields">)
      <p class="block-header">  <hr>  <p class="block-context">
      <p class="block-image"><a href>alt_text</a></p>  <div class="block-rich">
    </div>
"""

from collections.abc import Mapping

from chat.content.shortcodes import emojize
from chat.content.slack.markup import Budget, escape, link, plain_html, words_of
from chat.content.slack.mrkdwn import safe_url
from chat.content.slack.richtext import rich_text_draw
from chat.content.slack.values import as_object, invalid, read_objects, read_str

MAX_BLOCKS = 100  # in the whole payload: top-level blocks and those of every attachment
MAX_SECTION_FIELDS = 10  # Slack's own limits
MAX_CONTEXT_ELEMENTS = 10


def blocks_draw(data: Mapping[str, object], where: str, budget: Budget) -> tuple[str, list[str]]:
    """The HTML (uncleaned; "" when nothing in it has text) and plain-text lines of
    data["blocks"]. Counts them against budget.blocks."""
    items = read_objects(data, "blocks", where, MAX_BLOCKS)
    budget.blocks -= len(items)
    if budget.blocks < 0:
        raise invalid(f"the payload holds more than {MAX_BLOCKS} blocks in all")
    html: list[str] = []
    plain: list[str] = []
    for path, block in items:
        kind = read_str(block, "type", path)
        draw = _DRAW.get(kind)
        if draw is None:
            continue
        block_html, words = draw(block, path, budget)
        if block_html:
            html.append(block_html)
        if words.strip():
            plain.append(words)
    if not plain and not any(part != "<hr>" for part in html):
        return "", plain  # only dividers, or nothing: no box to show
    return '<div class="blocks">' + "".join(html) + "</div>", plain


def text_object(
    data: Mapping[str, object], key: str, where: str, budget: Budget, *, inline: bool
) -> tuple[str, str]:
    """A text object {"type": "mrkdwn" | "plain_text", "text": …} as (html, plain).
    plain_text is never read as mrkdwn; a type other than these two counts as plain."""
    value = data.get(key)
    if value is None:
        return "", ""
    path = f"{where}.{key}"
    obj = as_object(value, path)
    text = read_str(obj, "text", path)
    if read_str(obj, "type", path) == "mrkdwn":
        html = budget.inline(text) if inline else budget.block(text)
        return html, words_of(text)
    html = plain_html(text)
    if html and not inline:
        html = f"<p>{html}</p>"
    return html, emojize(text.strip())


def _section(block: Mapping[str, object], where: str, budget: Budget) -> tuple[str, str]:
    html, words = text_object(block, "text", where, budget, inline=False)
    lines = [words]
    rows: list[str] = []
    for path, field in read_objects(block, "fields", where, MAX_SECTION_FIELDS):
        field_html, field_words = text_object({"f": field}, "f", path, budget, inline=True)
        if field_html:
            rows.append(f'<div class="card-field card-field-short"><dd>{field_html}</dd></div>')
            lines.append(field_words)
    if rows:
        html += '<dl class="card-fields">' + "".join(rows) + "</dl>"
    if not html:
        return "", ""
    return f'<div class="block-section">{html}</div>', "\n".join(line for line in lines if line)


def _header(block: Mapping[str, object], where: str, budget: Budget) -> tuple[str, str]:
    html, words = text_object(block, "text", where, budget, inline=True)
    return (f'<p class="block-header">{html}</p>' if html else ""), words


def _divider(block: Mapping[str, object], where: str, budget: Budget) -> tuple[str, str]:
    return "<hr>", ""


def _context(block: Mapping[str, object], where: str, budget: Budget) -> tuple[str, str]:
    parts: list[str] = []
    words: list[str] = []
    for path, element in read_objects(block, "elements", where, MAX_CONTEXT_ELEMENTS):
        if read_str(element, "type", path) not in ("mrkdwn", "plain_text"):
            continue  # images in a context are icons: nothing to read
        html, text = text_object({"e": element}, "e", path, budget, inline=True)
        if html:
            parts.append(html)
            words.append(text)
    if not parts:
        return "", ""
    return f'<p class="block-context">{" ".join(parts)}</p>', " ".join(words)


def _image(block: Mapping[str, object], where: str, budget: Budget) -> tuple[str, str]:
    alt = read_str(block, "alt_text", where).strip()
    url = safe_url(read_str(block, "image_url", where))
    if url is None:
        return (f'<p class="block-image">{escape(alt)}</p>' if alt else ""), alt
    return f'<p class="block-image">{link(url, escape(alt or "image"))}</p>', alt


def _rich(block: Mapping[str, object], where: str, budget: Budget) -> tuple[str, str]:
    html, words = rich_text_draw(block, where)
    return (f'<div class="block-rich">{html}</div>' if html else ""), words


_DRAW = {
    "section": _section,
    "header": _header,
    "divider": _divider,
    "context": _context,
    "image": _image,
    "rich_text": _rich,
}
