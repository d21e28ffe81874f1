"""The search language, parsed without a database: words, phrases, filters, and hostile
input that must come out as text (or a clear error), never as engine syntax."""

from datetime import date

import pytest

from chat.errors import ChatError
from chat.search.query import (
    MARK_END,
    MARK_START,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    SNIPPET_CHARS,
    Term,
    fts5_match,
    highlight_html,
    search_parse,
    snippet_html,
)


def code_of(text: str) -> str:
    with pytest.raises(ChatError) as caught:
        search_parse(text)
    return caught.value.code


def test_words_and_phrases_become_terms() -> None:
    query = search_parse('Deploy "red  alert" foo-bar')
    assert query.terms == (
        Term(text="Deploy", tokens=("deploy",)),
        Term(text="red alert", tokens=("red", "alert"), phrase=True),
        Term(text="foo-bar", tokens=("foo", "bar"), phrase=True),
    )
    assert fts5_match(query) == '"deploy" AND "red alert" AND "foo bar"'


def test_every_filter_is_read() -> None:
    query = search_parse(
        "deploy in:#ops IN:Web from:@alice from:bob before:2024-02-01 after:2024-01-01"
        " has:file has:link is:mention IS:Thread"
    )
    assert [term.text for term in query.terms] == ["deploy"]
    assert query.rooms == ("ops", "web")
    assert query.authors == ("alice", "bob")
    assert query.before == date(2024, 2, 1)
    assert query.after == date(2024, 1, 1)
    assert query.has_file
    assert query.has_link
    assert query.is_mention
    assert query.is_thread
    assert not search_parse("deploy is:mention").is_thread


def test_quoted_filter_value_and_unknown_filter_is_text() -> None:
    query = search_parse('in:"ops" error:404 http://example.com/x')
    assert query.rooms == ("ops",)
    assert [term.tokens for term in query.terms] == [
        ("error", "404"),
        ("http", "example", "com", "x"),
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_query"),
        ("   ", "empty_query"),
        ("in:ops from:alice", "empty_query"),  # filters alone: no word to look up
        ("& | ! :* ( )", "empty_query"),  # operators alone: nothing a message holds
        ('""', "empty_query"),
        ("x" * 10_000, "query_too_long"),
        ("a " * (MAX_QUERY_CHARS // 2 + 1), "query_too_long"),
        (" ".join(f"w{i}" for i in range(MAX_TERMS + 1)), "too_many_terms"),
        ("x in:", "bad_filter"),
        ("x has:cats", "bad_filter"),
        ("x is:starred", "bad_filter"),
        ("x before:yesterday", "bad_filter"),
        ("x after:2024-13-01", "bad_filter"),
    ],
)
def test_bad_queries_are_clear_errors(text: str, code: str) -> None:
    assert code_of(text) == code


@pytest.mark.parametrize(
    "text",
    [
        "a & b",
        "a | b",
        "!a",
        "a:*",
        "a NEAR b",
        "NEAR(a b)",
        "a AND b OR NOT c",
        '"open quote',
        'a" b "c',
        "col:a",
        "a*",
        "^a",
        "a\x00b",
        "'; DROP TABLE chat_message; --",
    ],
)
def test_hostile_input_is_only_quoted_words(text: str) -> None:
    query = search_parse(text)
    match = fts5_match(query)
    # Every term is one double-quoted string of word characters: FTS5 sees no operator.
    for part in match.split(" AND "):
        assert part.startswith('"')
        assert part.endswith('"')
        inner = part[1:-1]
        assert '"' not in inner
        assert all(token.isalnum() or "_" in token for token in inner.split())
    for term in query.terms:
        assert "\x00" not in term.text


def test_unbalanced_quote_leaves_words() -> None:
    assert [term.tokens for term in search_parse('"open quote').terms] == [("open",), ("quote",)]


def test_duplicate_terms_count_once() -> None:
    assert len(search_parse("deploy deploy DEPLOY").terms) == 2  # "DEPLOY" keeps its text


def test_highlight_escapes_text_and_marks_matches() -> None:
    marked = f"<script>alert(1)</script> {MARK_START}deploy{MARK_END} & co"
    assert (
        highlight_html(marked)
        == "&lt;script&gt;alert(1)&lt;/script&gt; <mark>deploy</mark> &amp; co"
    )
    # Unpaired marks never leave an open or stray tag.
    assert highlight_html(f"a{MARK_END}b{MARK_START}c") == "ab<mark>c</mark>"


def test_snippet_of_a_long_message_is_cut_around_the_first_match() -> None:
    text = "word " * 200 + f"{MARK_START}needle{MARK_END} " + "tail " * 200
    snippet = snippet_html(text)
    assert "<mark>needle</mark>" in snippet
    assert snippet.startswith("…")
    assert snippet.endswith("…")
    assert len(snippet) <= SNIPPET_CHARS + len("<mark></mark>") + 2
    short = f"just {MARK_START}one{MARK_END}"
    assert snippet_html(short) == "just <mark>one</mark>"
