"""`:shortcode:` emoji on the server (chat/content/shortcodes.py through the renderer) and
the plain reading of a body (rendering.plain_text) that search snippets and excerpts
show: exact outputs, hostile input, no database."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.content import emoji as reactions
from chat.content import emojidata
from chat.content.rendering import plain_text, render
from chat.search.query import MARK_END, MARK_START, plain_marked, snippet_html

S, E = MARK_START, MARK_END

SHORTCODES = [
    (":tada:", "<p>🎉</p>"),
    ("shipped :tada: :rocket:", "<p>shipped 🎉 🚀</p>"),
    # Slack's and GitHub's names (the package's aliases) beside the CLDR ones.
    (":+1: :thumbsup: :thumbs_up: :smile: :party_popper:", "<p>👍 👍 👍 😄 🎉</p>"),
    ("**:fire:** _:eyes:_", "<p><strong>🔥</strong> <em>👀</em></p>"),
    (":tada::tada:", "<p>🎉🎉</p>"),
    ("unknown :nope: and :tada kept", "<p>unknown :nope: and :tada kept</p>"),
    ("at 12:30:45", "<p>at 12:30:45</p>"),
    ("`:tada:` in code", "<p><code>:tada:</code> in code</p>"),
    ("```\n:tada:\n```", "<pre><code>:tada:\n</code></pre>"),
    ("    :tada: indented", "<pre><code>:tada: indented\n</code></pre>"),
    (
        "[:tada: notes](https://example.com)",
        '<p><a href="https://example.com" '
        'target="_blank" rel="noopener noreferrer nofollow">🎉 notes</a></p>',
    ),
    # A bare link shows the address it opens, shortcode-looking parts included.
    (
        "https://example.com/:tada:",
        '<p><a href="https://example.com/:tada:" '
        'target="_blank" rel="noopener noreferrer nofollow">https://example.com/:tada:</a></p>',
    ),
]


@pytest.mark.parametrize(("body", "html"), SHORTCODES)
def test_shortcodes_render_as_emoji_outside_code(body: str, html: str) -> None:
    assert render(body) == html


def test_shortcodes_and_mentions_share_a_line() -> None:
    html = render("@bob :tada: @carol", mentions=["bob"])
    assert html == '<p><span class="mention" data-user="bob">@bob</span> 🎉 @carol</p>'


HOSTILE = [
    (":<script>:", "<p>:&lt;script&gt;:</p>"),
    (":<script>alert(1)</script>:", "<p>:&lt;script&gt;alert(1)&lt;/script&gt;:</p>"),
    (':tada" onmouseover="alert(1):', '<p>:tada" onmouseover="alert(1):</p>'),  # text
    (":tada:<img src=x onerror=alert(1)>", "<p>🎉&lt;img src=x onerror=alert(1)&gt;</p>"),
    (":javascript:alert(1):", "<p>:javascript:alert(1):</p>"),
    ("[:tada:](javascript:alert(1))", "<p>[🎉](javascript:alert(1))</p>"),
]


@pytest.mark.parametrize(("body", "html"), HOSTILE)
def test_hostile_shortcode_shaped_input_stays_escaped_text(body: str, html: str) -> None:
    assert render(body) == html


PLAIN = [
    ("**bold** *it* ~~gone~~ `code` :tada:", "bold it gone code 🎉"),
    ("```python\nprint(1)\n```\nafter", "print(1)\nafter"),
    ("> quoted\n\n- one\n- two", "quoted\n\none\n\ntwo"),
    ("[the docs](https://example.com) and https://example.org", "the docs and https://example.org"),
    ("`:tada:` stays", ":tada: stays"),
    ("<b>not html</b> &lt;", "<b>not html</b> &lt;"),  # text: the shower escapes it
    ("@bob hi", "@bob hi"),
]


@pytest.mark.parametrize(("body", "text"), PLAIN)
def test_plain_text_drops_markdown_marks(body: str, text: str) -> None:
    assert plain_text(body) == text


def test_plain_marked_marks_the_matched_words_again_in_the_plain_text() -> None:
    marked = (
        f"```{S}python{E}\nprint({S}x{E})\n```\n**{S}python{E}** [link](https://{S}python{E}.org)"
    )
    assert plain_marked(marked) == f"print({S}x{E}) {S}python{E} link"
    assert snippet_html(plain_marked(marked)) == "print(<mark>x</mark>) <mark>python</mark> link"


def test_snippet_of_hostile_markdown_stays_escaped() -> None:
    marked = f"**<script>{S}alert{E}(1)</script>** :tada:"
    assert snippet_html(plain_marked(marked)) == (
        "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; 🎉"
    )


def test_plain_marked_without_marks_is_the_plain_line() -> None:
    assert plain_marked("# not a heading\n\n*a*") == "# not a heading a"


def test_emojidata_js_is_current() -> None:
    assert emojidata.JS_PATH.read_text(encoding="utf-8") == emojidata.render_js(), (
        "chat/static/chat/emojidata.js is stale: run `python -m chat.content.emojidata`"
    )
    assert emojidata.main(["--check"]) == 0


def test_the_picker_offers_names_the_server_renders_and_every_reaction() -> None:
    table = emojidata.entries()
    assert len({char for char, _ in table}) == len(table)
    for char, names in table:
        # Names of letters, digits, _ + - (what `:` completion matches); the few with
        # "&" or "." beside "_" are read as emphasis by Markdown, and found by search.
        for name in filter(re.compile(r"[\w+-]+").fullmatch, names):
            assert render(f":{name}:") == f"<p>{char}</p>", name
    chars = {char.replace("\ufe0f", "") for char, _ in table}
    assert {char.replace("\ufe0f", "") for char in reactions.ALLOWED} <= chars
    assert table[0][0] == reactions.ALLOWED[0]  # the reaction set leads, in its order
    assert not any("skin_tone" in name for _, names in table for name in names)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["**", "`", "```\n", "[a](https://x.io)", "<b>", "&", ":tada:", S, E])
        | st.text(max_size=8),
        max_size=40,
    ).map("".join)
)
def test_fuzz_snippets_are_escaped_text_and_marks_only(marked: str) -> None:
    html = snippet_html(plain_marked(marked))
    assert re.sub(r"</?mark>", "", html).count("<") == 0
    assert html.count("<mark>") == html.count("</mark>")
