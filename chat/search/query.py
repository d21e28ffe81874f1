"""The search box's language, parsed into a typed query: words, "quoted phrases" and
the filters in: from: before: after: has: is:. Pure: no Django, no database, no I/O.

Nothing the user types ever reaches an engine as syntax: a term keeps only its word
characters (\\w) for SQLite's FTS5, which gets each term as a quoted string, and its
plain text for PostgreSQL, which gets it through phraseto_tsquery (plain text, no
operators). So `&`, `|`, `!`, `:*`, `NEAR`, `OR` and open quotes are text, not syntax.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from html import escape

from chat.content.rendering import plain_text
from chat.errors import ChatError
from chat.protocol.codes import ErrorCode

MAX_QUERY_CHARS = 500  # longer is refused (400), not cut: a cut query finds other things
MAX_TERMS = 12  # words and phrases; each costs the engine a lookup
MAX_FILTER_VALUES = 10  # per filter (in: a, in: b ... is any of them)
MAX_TOKEN_CHARS = 100  # longer "words" are not words (both engines skip them)

HAS_VALUES = frozenset({"file", "link"})
IS_VALUES = frozenset({"mention", "thread"})
FILTERS = frozenset({"in", "from", "before", "after", "has", "is"})

# A filter is `name:value` with a known name; anything else with a colon is words
# (`error:404`, `http://x`). Values may be quoted: in:"x".
_CHUNK = re.compile(
    r'(?P<filter>\b(?P<name>[A-Za-z]+):(?P<value>"[^"]*"|[^\s"]*))|"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+)'
)
_TOKEN = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # PostgreSQL text refuses NUL


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a phrase: all of `tokens`, adjacent and in order."""

    text: str  # what the user wrote, for PostgreSQL's own parser (emails, URLs, paths)
    tokens: tuple[str, ...]  # its word characters, lowercased, for FTS5
    phrase: bool = False  # written in quotes


@dataclass(frozen=True, slots=True)
class SearchQuery:
    terms: tuple[Term, ...] = ()
    rooms: tuple[str, ...] = ()  # in: slugs (any of them)
    authors: tuple[str, ...] = ()  # from: usernames (any of them)
    before: date | None = None  # created before this day starts
    after: date | None = None  # created after this day ends
    has_file: bool = False
    has_link: bool = False
    is_mention: bool = False
    is_thread: bool = False  # replies in threads only
    filters: tuple[str, ...] = field(default=(), compare=False)  # as written, for echoing


def bad(code: ErrorCode, detail: str) -> ChatError:
    return ChatError(code, detail)


def search_parse(text: str) -> SearchQuery:
    """The query of the search box (and of the API's `q`). Raises ChatError:
    `query_too_long`, `empty_query` (no word left to search for), `too_many_terms`,
    `bad_filter`."""
    if len(text) > MAX_QUERY_CHARS:
        raise bad(
            ErrorCode.QUERY_TOO_LONG, f"A search can have at most {MAX_QUERY_CHARS} characters."
        )
    text = _CONTROL.sub(" ", text)
    terms: list[Term] = []
    rooms: list[str] = []
    authors: list[str] = []
    before: date | None = None
    after: date | None = None
    flags: set[str] = set()
    written: list[str] = []
    for chunk in _CHUNK.finditer(text):
        name = (chunk.group("name") or "").lower()
        if chunk.group("filter") and name in FILTERS:
            value = chunk.group("value").strip('"').strip()
            written.append(f"{name}:{value}")
            if not value:
                raise bad(ErrorCode.BAD_FILTER, f'"{name}:" needs a value.')
            if name == "in":
                rooms.append(value.lstrip("#").lower())
            elif name == "from":
                authors.append(value.lstrip("@"))
            elif name == "before":
                before = _date(name, value)
            elif name == "after":
                after = _date(name, value)
            elif name == "has":
                if value.lower() not in HAS_VALUES:
                    raise bad(ErrorCode.BAD_FILTER, '"has:" is has:file or has:link.')
                flags.add(f"has:{value.lower()}")
            elif value.lower() not in IS_VALUES:
                raise bad(ErrorCode.BAD_FILTER, '"is:" is is:mention or is:thread.')
            else:
                flags.add(f"is:{value.lower()}")
            continue
        phrase = chunk.group("phrase")
        raw = phrase if phrase is not None else chunk.group(0)
        term = _term(raw, phrase=phrase is not None)
        if term is not None and term not in terms:
            terms.append(term)
    if len(rooms) > MAX_FILTER_VALUES or len(authors) > MAX_FILTER_VALUES:
        raise bad(ErrorCode.BAD_FILTER, f"At most {MAX_FILTER_VALUES} values per filter.")
    if len(terms) > MAX_TERMS:
        raise bad(
            ErrorCode.TOO_MANY_TERMS, f"A search can have at most {MAX_TERMS} words or phrases."
        )
    if not terms:
        # Filters alone would scan a room or a person's whole history: words required.
        raise bad(ErrorCode.EMPTY_QUERY, "Type at least one word to search for; filters narrow it.")
    return SearchQuery(
        terms=tuple(terms),
        rooms=tuple(dict.fromkeys(rooms)),
        authors=tuple(dict.fromkeys(authors)),
        before=before,
        after=after,
        has_file="has:file" in flags,
        has_link="has:link" in flags,
        is_mention="is:mention" in flags,
        is_thread="is:thread" in flags,
        filters=tuple(written),
    )


def _term(raw: str, *, phrase: bool) -> Term | None:
    tokens = tuple(token.lower() for token in _TOKEN.findall(raw) if len(token) <= MAX_TOKEN_CHARS)
    if not tokens:
        return None  # only punctuation or operators: nothing a message could contain
    # `foo-bar` is the phrase "foo bar" to FTS5; PostgreSQL parses the text itself.
    return Term(text=" ".join(raw.split()), tokens=tokens, phrase=phrase or len(tokens) > 1)


def _date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad(ErrorCode.BAD_FILTER, f'"{name}:" takes a date as YYYY-MM-DD.') from None


def fts5_match(query: SearchQuery) -> str:
    """The FTS5 MATCH expression: each term one quoted string (FTS5 reads a quoted
    string as a phrase of its tokens and nothing in it as an operator); all must
    match. Tokens hold only word characters, so no quote can end a string early."""
    return " AND ".join('"' + " ".join(term.tokens) + '"' for term in query.terms)


# --- highlighting -------------------------------------------------------------------------

MARK_START = "\x02"  # the engines put these around matches; never in a saved body
MARK_END = "\x03"


def highlight_html(marked: str) -> str:
    """The engine's snippet with MARK_START/MARK_END around matches as safe HTML: the
    text escaped, each match in <mark>. Unpaired marks are dropped."""
    out: list[str] = []
    open_ = False
    for piece in re.split(f"([{MARK_START}{MARK_END}])", marked):
        if piece == MARK_START:
            if not open_:
                out.append("<mark>")
                open_ = True
        elif piece == MARK_END:
            if open_:
                out.append("</mark>")
                open_ = False
        else:
            out.append(escape(piece, quote=False))
    if open_:
        out.append("</mark>")
    return "".join(out).replace("<mark></mark>", "")


SNIPPET_CHARS = 300  # a result shows this much of a long message, around its first match
SNIPPET_LEAD_CHARS = 80  # of it before the first match


def plain_marked(marked: str) -> str:
    """The engine's marked body read as plain text (rendering.plain_text: no Markdown
    marks, one line) with the words it marked marked again wherever they still show.
    Marking after the plain reading, not before: a mark inside a link's address or a
    fence's opening line would break the Markdown it is read with."""
    found = {word for word in re.findall(_MARKED, marked) if word.strip()}
    body = marked.replace(MARK_START, "").replace(MARK_END, "")
    text = " ".join(plain_text(body).split())
    if not found:
        return text
    words = "|".join(re.escape(word) for word in sorted(found, key=len, reverse=True))
    return re.sub(f"(?<!\\w)({words})(?!\\w)", f"{MARK_START}\\1{MARK_END}", text)


_MARKED = f"{MARK_START}([^{MARK_START}{MARK_END}]+){MARK_END}"


def snippet_html(marked: str) -> str:
    """A result's snippet: the whole message when short, else SNIPPET_CHARS around the
    first match (cut at spaces, "…" where cut), as safe HTML (highlight_html). `marked`
    is plain text (plain_marked), not the Markdown body."""
    if len(marked) <= SNIPPET_CHARS:
        return highlight_html(marked)
    first = marked.find(MARK_START)
    start = max(0, first - SNIPPET_LEAD_CHARS) if first >= 0 else 0
    if start > 0:
        space = marked.find(" ", start, first if first > start else start + 20)
        start = space + 1 if space >= 0 else start
    end = min(len(marked), start + SNIPPET_CHARS)
    if end < len(marked):
        space = marked.rfind(" ", end - 20, end)
        end = space if space > start else end
    cut = (
        ("…" if start > 0 else "") + marked[start:end].strip() + ("…" if end < len(marked) else "")
    )
    return highlight_html(cut)
