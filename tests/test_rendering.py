"""chat/content/rendering.py without a database: the allow-list table (input -> exact HTML), XSS
payloads that must never survive, a fuzz that the output is always well-formed and
within the allow-list, and bounded time on pathological bodies."""

import time
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.content.rendering import (
    ALLOWED,
    LINK_REL,
    LINK_SCHEMES,
    MAX_RENDER_CHARS,
    parsed,
    render,
)

A = f'target="_blank" rel="{LINK_REL}"'

TABLE = [
    ("plain text", "<p>plain text</p>"),
    (
        "**bold** *it* _it_ ~~gone~~",
        "<p><strong>bold</strong> <em>it</em> <em>it</em> <s>gone</s></p>",
    ),
    ("a `x < y` b", "<p>a <code>x &lt; y</code> b</p>"),
    ("line one\nline two", "<p>line one<br>\nline two</p>"),
    (
        "```python\ndef f():\n    return  1\n```",
        '<pre><code class="language-python">def f():\n    return  1\n</code></pre>',
    ),
    ("```\nno language\n```", "<pre><code>no language\n</code></pre>"),
    ("    indented code", "<pre><code>indented code\n</code></pre>"),
    ("> quoted\n> more", "<blockquote>\n<p>quoted<br>\nmore</p>\n</blockquote>"),
    ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
    ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'),
    (
        "see https://example.com/a?b=1&c=2.",
        f'<p>see <a href="https://example.com/a?b=1&amp;c=2" {A}>https://example.com/a?b=1&amp;c=2</a>.</p>',
    ),
    ("www.example.com", f'<p><a href="http://www.example.com" {A}>www.example.com</a></p>'),
    ("[docs](https://docs.example.org)", f'<p><a href="https://docs.example.org" {A}>docs</a></p>'),
    (
        "<https://a.example.com>",
        f'<p><a href="https://a.example.com" {A}>https://a.example.com</a></p>',
    ),
    ("mail [me](mailto:a@example.com)", f'<p>mail <a href="mailto:a@example.com" {A}>me</a></p>'),
    # Bare file names are not links (.py, .md are country codes).
    ("edit config.py and README.md", "<p>edit config.py and README.md</p>"),
    # Relative links and other schemes stay text.
    ("[home](/admin/)", "<p>[home](/admin/)</p>"),
    ("[x](ftp://example.com/f)", "<p>[x](ftp://example.com/f)</p>"),
    # No headings, rules, images or raw HTML.
    ("# Shouting", "<p># Shouting</p>"),
    ("Title\n===", "<p>Title<br>\n===</p>"),
    ("a\n\n---\n\nb", "<p>a</p>\n<p>---</p>\n<p>b</p>"),
    (
        "![pixel](https://t.example.com/p.gif)",
        f'<p>!<a href="https://t.example.com/p.gif" {A}>pixel</a></p>',
    ),
    ("<b>hi</b> &amp; &lt;", "<p>&lt;b&gt;hi&lt;/b&gt; &amp;amp; &amp;lt;</p>"),
    ("&#106;avascript &copy;", "<p>&amp;#106;avascript &amp;copy;</p>"),
    ("| a | b |\n| - | - |\n| 1 | 2 |", "<p>| a | b |<br>\n| - | - |<br>\n| 1 | 2 |</p>"),
    ("", ""),
]


@pytest.mark.parametrize(("body", "html"), TABLE)
def test_allow_list_table(body: str, html: str) -> None:
    assert render(body) == html


MENTIONS = [
    ("hi @bob", ["bob"], "", '<p>hi <span class="mention" data-user="bob">@bob</span></p>'),
    (
        "thanks @Bob.",
        ["bob"],
        "",
        '<p>thanks <span class="mention" data-user="bob">@Bob</span>.</p>',
    ),
    ("hi @carol", ["bob"], "", "<p>hi @carol</p>"),  # not a member: plain text
    (
        "@here and @room",
        [],
        "here",
        '<p><span class="mention" data-group="here">@here</span> and @room</p>',
    ),
    ("`@bob` and [@bob](https://x.example.com)", ["bob"], "", None),
    ("mail bob@example.com", ["example.com"], "", None),
]


@pytest.mark.parametrize(("body", "names", "group", "html"), MENTIONS)
def test_mentions_become_chips_only_for_the_saved_mentions(
    body: str, names: list[str], group: str, html: str | None
) -> None:
    out = render(body, mentions=names, group_mention=group)
    if html is not None:
        assert out == html
    else:  # in code, link text or an address: never a chip
        assert 'class="mention"' not in out


XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example.com/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](%6Aavascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "<svg onload=alert(1)><circle/></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>body{display:none}</style>",
    '<p style="position:fixed;top:0">x</p>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<iframe src=https://evil.example.com></iframe>",
    "<object data=x></object><embed src=x>",
    "<form action=https://evil.example.com><input></form>",
    '<a href="https://ok.example.com" onclick="alert(1)">x</a>',
    '[x](https://ok.example.com "title" onclick=alert(1))',
    '```"><script>alert(1)</script>\ncode\n```',
    "``` onmouseover=alert(1)\ncode\n```",
    "<!-- comment --><![CDATA[x]]>",
    "<meta http-equiv=refresh content=0;url=https://evil.example.com>",
    "<base href=https://evil.example.com>",
    "<link rel=stylesheet href=https://evil.example.com/x.css>",
    '<span class="mention" data-user="bob" onclick="alert(1)">@bob</span>',
    ":<script>:alert(1):</script>:",
    ":tada:<img src=x onerror=alert(1)>:tada:",
    "[:tada:](javascript:alert(1))",
]

FORBIDDEN = ("<script", "<svg", "<style", "<img", "<iframe", "javascript:", "data:", "vbscript:")


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads_never_survive(payload: str) -> None:
    html = render(payload, mentions=["bob"])
    assert_well_formed(html)
    # As escaped text a payload is harmless: it must never be markup (a tag or attribute).
    markup = _tags_and_attributes(html).lower()
    for marker in FORBIDDEN:
        assert marker.lstrip("<") not in markup.split(), (payload, html)
        assert marker not in markup, (payload, html)
    for needle in ("onerror", "onload", "onclick", "onmouseover", "style", "form", "base"):
        assert needle not in markup, (payload, html)


def _tags_and_attributes(html: str) -> str:
    parser = _Checker()
    parser.feed(html)
    parser.close()
    return " ".join(parser.markup)


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.markup: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markup.append(" ".join([tag, *(f"{k}={v}" for k, v in attrs)]))
        if tag not in ALLOWED:
            self.problems.append(f"element {tag}")
        for name, value in attrs:
            if name not in ALLOWED.get(tag, frozenset()):
                self.problems.append(f"attribute {tag}.{name}")
            if tag == "a" and name == "href":
                scheme = (value or "").split(":", 1)[0].lower()
                if scheme not in LINK_SCHEMES:
                    self.problems.append(f"href {value}")
        if tag == "a" and (dict(attrs).get("rel"), dict(attrs).get("target")) != (
            LINK_REL,
            "_blank",
        ):
            self.problems.append("link without rel/target")
        if tag != "br":
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(f"self-closing {tag}")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("declaration")


def assert_well_formed(html: str) -> None:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.problems, (checker.problems, html)
    assert not checker.stack, (checker.stack, html)


PIECES = [
    *"*_~`[]()<>!#&;:/\\-+.=\"' \n\t1a",
    "**",
    "```",
    "> ",
    "- ",
    "1. ",
    "    ",
    "http://",
    "https://ex.com/",
    "javascript:",
    "data:",
    "mailto:",
    "www.",
    ".com",
    "@bob",
    "@here",
    "@room",
    "<script>",
    "</script>",
    "<svg onload=alert(1)>",
    "<img src=x onerror=alert(1)>",
    "&#x6a;",
    "&lt;",
    "<!--",
    "-->",
    "](",
    "![",
    ":",
    ":tada:",
    ":+1:",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_fuzz_markdown_shaped_bodies_stay_well_formed_and_allowed(body: str) -> None:
    assert_well_formed(render(body, mentions=["bob"], group_mention="here"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_any_text_stays_well_formed_and_allowed(body: str) -> None:
    assert_well_formed(render(body, mentions=["bob"]))


# Plain words (render's shortcut skips the parser for them) and what sits next to them.
WORDS = ["deploy", "the", "fan", "1", "42", "été", "日本", "tada", "smile", "x", "com", "http"]
JOINS = [" ", ":", ",", "  ", ".", "_", "-", "\n", "@", "*", ""]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(WORDS + JOINS), min_size=1, max_size=30).map("".join))
def test_plain_words_shortcut_renders_as_the_parser_does(body: str) -> None:
    for mentions, group in (((), ""), (["bob", "deploy"], "here")):
        assert render(body, mentions=mentions, group_mention=group) == parsed(
            body, mentions=mentions, group_mention=group
        )


@pytest.mark.parametrize(
    "body", ["fan:1:1:1234567890123", "deploy the release", ":smile:", "a:tada:b", "x:+1:"]
)
def test_plain_words_shortcut_keeps_shortcodes_and_words(body: str) -> None:
    assert render(body) == parsed(body)


PATHOLOGICAL = {
    "stars": "*" * 4000,
    "star-letter": "a*" * 2000,
    "letter-star": "*a" * 2000,
    "underscores": "_" * 4000,
    "strong-openers": "**a " * 1000,
    "backticks": "`" * 4000,
    "backtick-letter": "`a" * 2000,
    "backtick-runs": "".join("`" * n + "a" for n in range(1, 80)),
    "brackets": "[" * 4000,
    "link-openers": "[](" * 1333,
    "quotes": ">" * 4000,
    "quote-lines": "".join(">" * i + " x\n" for i in range(100)),
    "nested-lists": "".join("  " * i + "- x\n" for i in range(300)),
    "ordered": "1. " * 1333,
    "tildes": "~~a" * 1333,
    "angles": "<" * 4000,
    "entities": "&#" * 2000,
    "backslashes": "\\" * 4000,
    "urls": "http://a.com/" * 300,
    "emails": "a@b.com " * 500,
    "mentions": "@bob " * 800,
    "newlines": "\n" * 4000,
    "mixed": "*_~`[]()<>!@#" * 300,
    "brackets-at-the-cap": "[" * MAX_RENDER_CHARS,
    "image-openers-at-the-cap": "![" * (MAX_RENDER_CHARS // 2),
    "over-the-cap": "*a[" * (MAX_RENDER_CHARS // 2),
}

# Generous: typical renders take a few ms, the worst of these (10,000 "[") 0.1-0.3 s.
# Counted in this thread's CPU time, not wall time: a machine busy with other work
# (the SQLite pass runs beside this one) must not fail it; a quadratic render would.
TIME_BUDGET_SECONDS = 2.0


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_bodies_render_in_bounded_time(name: str) -> None:
    body = PATHOLOGICAL[name]
    started = time.thread_time()
    html = render(body, mentions=["bob"], group_mention="here")
    assert time.thread_time() - started < TIME_BUDGET_SECONDS
    assert_well_formed(html)


def test_deep_nesting_is_cut_not_recursed() -> None:
    html = render("> " * 1000 + "deep", mentions=[])
    assert html.count("<blockquote>") <= 20
    assert_well_formed(html)
