"""Slack's legacy attachments as card HTML and plain text. Pure: no Django, no I/O.
Validates each attachment as it draws it; the caller cleans the HTML (markup.card_clean).

    <div class="card" data-color="#36a64f">
      <p class="card-pretext">  <p class="card-author"> (a link with author_link)
      <p class="card-title"> (a link with title_link)  <div class="card-text">
      <dl class="card-fields"><div class="card-field[ card-field-short]"><dt><dd></dl>
      <div class="blocks"> (the attachment's own blocks)
      <p class="card-image"><a href>name</a></p>  <p class="card-footer">footer · ts</p>
    </div>
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from chat.content.slack.blocks import blocks_draw
from chat.content.slack.markup import COLOR, Budget, escape, link, words_of
from chat.content.slack.mrkdwn import safe_url
from chat.content.slack.values import invalid, read_bool, read_objects, read_str

MAX_ATTACHMENTS = 100
MAX_FIELDS = 50
MAX_IMAGE_NAME_CHARS = 100
COLORS = {"good": "#2eb886", "warning": "#daa038", "danger": "#a30200"}
_NUMBER = re.compile(r"-?\d{1,20}(?:\.\d{1,20})?")
# datetime's range, in unix seconds: a ts outside it (milliseconds sent as seconds) is
# left out rather than refusing the message for a date.
_TS_MIN, _TS_MAX = -62_135_596_800, 253_402_300_799


def attachments_draw(data: Mapping[str, object], budget: Budget) -> tuple[str, list[str]]:
    """The cards' HTML (uncleaned) and the plain-text lines of the payload's attachments."""
    html: list[str] = []
    plain: list[str] = []
    for where, item in read_objects(data, "attachments", "payload", MAX_ATTACHMENTS):
        card, lines = _attachment(item, where, budget)
        html.append(card)
        plain.extend(lines)
    return "".join(html), plain


def color_value(value: str) -> str:
    """Slack's named colours and #rgb / #rrggbb (the "#" may be left out), else ""."""
    value = value.strip().lower()
    if value in COLORS:
        return COLORS[value]
    value = value if value.startswith("#") else "#" + value
    return value if COLOR.fullmatch(value) else ""


def ts_text(value: object, where: str) -> str:
    """Unix seconds (a number or a numeric string) as "2024-05-01 12:30 UTC"."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid(f"{where}.ts must be unix seconds (a number or a numeric string)")
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        raise invalid(f"{where}.ts must be unix seconds (a number or a numeric string)")
    seconds = float(value)
    if not _TS_MIN <= seconds <= _TS_MAX:  # also false for NaN
        return ""
    return datetime.fromtimestamp(int(seconds), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def image_name(url: str) -> str:
    name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return name[:MAX_IMAGE_NAME_CHARS] if name else "image"


def _attachment(item: Mapping[str, object], where: str, budget: Budget) -> tuple[str, list[str]]:
    def text(key: str) -> str:
        return read_str(item, key, where)

    inner: list[str] = []
    plain: list[str] = []

    def add(css: str, html: str, words: str, href: str = "", tag: str = "p") -> None:
        if not html:
            return
        url = safe_url(href) if href else None
        inner.append(f'<{tag} class="{css}">{link(url, html) if url else html}</{tag}>')
        plain.append(words)

    pretext, author, title, body = text("pretext"), text("author_name"), text("title"), text("text")
    add("card-pretext", budget.inline(pretext), words_of(pretext))
    add("card-author", escape(author.strip()), author.strip(), text("author_link"))
    add("card-title", escape(title.strip()), title.strip(), text("title_link"))
    add("card-text", budget.block(body), words_of(body), tag="div")
    fields, field_lines = _fields(item, where, budget)
    inner.append(fields)
    plain.extend(field_lines)
    blocks, block_lines = blocks_draw(item, where, budget)
    inner.append(blocks)
    plain.extend(block_lines)
    for key in ("image_url", "thumb_url"):
        url = safe_url(text(key))
        if url:
            inner.append(f'<p class="card-image">{link(url, escape(image_name(url)))}</p>')
    footer = text("footer")
    when = ts_text(item.get("ts"), where)
    footer_html = " · ".join(part for part in (budget.inline(footer), escape(when)) if part)
    footer_plain = " · ".join(part for part in (words_of(footer), when) if part)
    add("card-footer", footer_html, footer_plain)
    color = color_value(text("color"))
    plain = [line for line in plain if line.strip()]
    if not plain:  # Slack's own rule: the fallback is what a notification says
        plain = [words_of(text("fallback"))]
    if not "".join(inner):
        return "", plain
    opening = f'<div class="card" data-color="{color}">' if color else '<div class="card">'
    return opening + "".join(inner) + "</div>", plain


def _fields(item: Mapping[str, object], where: str, budget: Budget) -> tuple[str, list[str]]:
    rows: list[str] = []
    plain: list[str] = []
    for path, field in read_objects(item, "fields", where, MAX_FIELDS):
        title = read_str(field, "title", path).strip()
        value = read_str(field, "value", path)
        short = read_bool(field, "short", path)
        value_html = budget.inline(value)
        if not title and not value_html:
            continue
        css = "card-field card-field-short" if short else "card-field"
        dt = f"<dt>{escape(title)}</dt>" if title else ""
        rows.append(f'<div class="{css}">{dt}<dd>{value_html}</dd></div>')
        words = words_of(value)
        plain.append(f"{title}: {words}" if title and words else title or words)
    if not rows:
        return "", plain
    return '<dl class="card-fields">' + "".join(rows) + "</dl>", plain
