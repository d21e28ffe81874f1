"""chat/content/slack without a database: real payloads from the tools people point at a
Slack webhook (tests/fixtures/slack/), the mrkdwn conversion table, the payload's fields
and errors, the card HTML's allow-list, XSS, and bounded time on a 256 KiB payload."""

import json
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chat.content.rendering import LINK_REL, LINK_SCHEMES, render
from chat.content.slack import PayloadError, SlackMessage, mrkdwn_to_markdown, payload_parse
from chat.content.slack.markup import CARD_ALLOWED, CARD_CLASSES, card_clean
from tests.test_rendering import XSS

FIXTURES = Path(__file__).parent / "fixtures" / "slack"


def fixture(name: str) -> object:
    return json.loads((FIXTURES / f"{name}.json").read_text())


# name -> (what the card must show, as HTML; words the plain-text body must hold)
REAL = {
    "alertmanager": (
        [
            'data-color="#a30200"',
            'href="http://alertmanager.example.com:9093/#/alerts?receiver=slack-ops"',
            "[FIRING:2] InstanceDown (node-exporter critical)</a>",
            "<strong>Description:</strong> web-1:9100 of job node-exporter has been down",
            "<code>InstanceDown</code>",
        ],
        ["[FIRING:2] InstanceDown", "Description: web-1:9100", "alertname: InstanceDown"],
    ),
    "grafana": (
        [
            'data-color="#d63232"',
            'href="https://grafana.example.com/alerting/grafana/fdk2v8/view"',
            "[FIRING:1] HighCPU web (production)</a>",
            "<strong>Firing</strong>",
            "summary = CPU above 90% for 5m",
            'href="https://grafana.example.com/alerting/silence/new?alertmanager=grafana&amp;'
            'matcher=alertname%3DHighCPU"',
            '<div class="card-field card-field-short"><dt>Severity</dt><dd>critical</dd></div>',
            "<dt>Region</dt><dd>eu-west-1</dd>",
            'href="https://grafana.example.com/public/img/attachments/cpu_panel.png"',
            ">cpu_panel.png</a></p>",
            '<p class="card-footer">Grafana v10.4.1 · 2024-05-01 08:00 UTC</p>',
        ],
        ["HighCPU", "Value: B=97.3", "Severity: critical", "Region: eu-west-1", "Grafana v10.4.1"],
    ),
    "github_actions_blocks": (
        [
            "GitHub Action build result: <strong>success</strong>",
            'href="https://github.com/acme/shop/pull/57"',
            "<strong>Repository:</strong><br>\nacme/shop",
            'href="https://github.com/acme/shop/commit/3f2a9c1"',
            "<hr>",
            '<p class="block-context">Triggered by <strong>octocat</strong> on <code>push</code>',
        ],
        ["build result: success", "acme/shop", "3f2a9c1", "Triggered by octocat on push"],
    ),
    "sentry": (
        [
            'data-color="#e03e2f"',
            'href="https://sentry.io/organizations/acme/issues/4207812345/?referrer=slack"',
            "ZeroDivisionError: division by zero</a>",
            "app/billing/invoice.py in compute_total",
            "<dt>environment</dt><dd>production</dd>",
            "<dt>release</dt><dd>backend@2.14.0</dd>",
            'href="https://sentry.io/organizations/acme/alerts/rules/backend/12/details/"',
            "· 2024-05-01 08:00 UTC</p>",
        ],
        ["ZeroDivisionError", "compute_total", "environment: production", "BACKEND-3K4 via"],
    ),
    "uptime_kuma": (
        [
            'data-color="#e01e5a"',
            '<p class="block-header">Uptime Kuma Alert</p>',
            "[Shop API] [🔴 Down] timeout of 48000ms exceeded",
            "<strong>Time (Europe/Berlin)</strong><br>\n2024-05-01 10:15:03",
            'Monitor: <a href="https://api.example.com/health"',
        ],
        ["Uptime Kuma Alert: Shop API", "timeout of 48000ms exceeded", "Monitor: Shop API"],
    ),
    "jenkins": (
        [
            'data-color="#a30200"',
            "Build Failed: shop-pipeline #128 (",
            'href="https://jenkins.example.com/job/shop-pipeline/128/"',
        ],
        ["Build Failed: shop-pipeline #128 (Open)"],
    ),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_payloads_show_their_content(name: str) -> None:
    shown, words = REAL[name]
    message = payload_parse(fixture(name))
    for piece in shown:
        assert piece in message.card_html, (piece, message.card_html)
    for word in words:
        assert word in message.fallback, (word, message.fallback)
    assert_card_markup(message.card_html)


def test_real_payloads_skip_actions_and_keep_their_sender() -> None:
    sentry = payload_parse(fixture("sentry"))
    assert "Resolve" not in sentry.card_html
    assert "Select Assignee" not in sentry.card_html
    kuma = payload_parse(fixture("uptime_kuma"))
    assert "Visit Uptime Kuma" not in kuma.card_html
    assert kuma.markdown == "Uptime Kuma Alert: Shop API"  # attachments do not hide `text`
    assert (kuma.username, kuma.icon_emoji, kuma.channel) == ("Uptime Kuma", "🤖", "monitoring")
    grafana = payload_parse(fixture("grafana"))
    assert grafana.icon_url == "https://grafana.com/static/assets/img/fav32.png"
    assert payload_parse(fixture("alertmanager")).channel == "alerts"


def test_a_text_only_payload_is_markdown_without_cards() -> None:
    message = payload_parse(fixture("github_actions_text"))
    assert message.card_html == ""
    assert render(message.markdown) == (
        '<p><strong>Deploy succeeded</strong> for <a href="https://github.com/acme/shop/actions/'
        f'runs/8123456789" target="_blank" rel="{LINK_REL}">acme/shop run #412</a> on '
        "<code>main</code> by octocat ✅</p>"
    )
    assert message.fallback == "Deploy succeeded for acme/shop run #412 on main by octocat ✅"


def test_blocks_replace_the_text_on_screen_as_in_slack_but_not_in_the_body() -> None:
    message = payload_parse(fixture("github_actions_blocks"))
    assert message.markdown == ""
    assert message.fallback.startswith("GitHub Action build result: success\n")


MRKDWN = [
    ("*bold* _italic_ ~strike~", "**bold** _italic_ ~~strike~~"),
    ("**Firing**", "**Firing**"),
    ("*bold _both_*", "**bold _both_**"),
    ("a `x*y*z` b", "a `x*y*z` b"),
    ("```\ndef f():\n    return *x*\n```", "```\ndef f():\n    return *x*\n```"),
    ("see ```a <b> c``` then", "see\n```\na <b> c\n```\nthen"),
    ("<https://x.example.com/a|the label>", "[the label](<https://x.example.com/a>)"),
    ("<https://x.example.com/a>", "<https://x.example.com/a>"),
    ("<mailto:ann@example.com|mail Ann>", "[mail Ann](<mailto:ann@example.com>)"),
    ("<!here> <!channel> <!everyone>", "@here @room @room"),
    ("<!here|here> and <!channel|@channel>", "@here and @room"),
    ("<@bob> <@bob|Bob Smith>", "@bob @bob"),
    ("<#general|General> <#random>", "#General #random"),
    ("<!date^1392734382^{date_num}|2014-02-18 6:39 AM PST>", "2014-02-18 6:39 AM PST"),
    ("&lt;b&gt; &amp; &amp;lt;", "\\<b\\> & &lt;"),
    ("2*3*4 and a*b", "2\\*3\\*4 and a\\*b"),
    ("snake_case_name", "snake\\_case\\_name"),
    ("https://x.example.com/a_b_c", "<https://x.example.com/a_b_c>"),
    ("_see https://x.example.com/a_b_c_", "_see <https://x.example.com/a_b_c>_"),
    ("(https://x.example.com/a).", "(<https://x.example.com/a>)."),
    ("> quoted\nafter", "> quoted\n\nafter"),
    ("&gt;&gt;&gt; all\nof it", "> all\n> of it"),
    ("- dash\n1. one", "\\- dash\n1\\. one"),
    ("[x](https://evil.example.com)", "\\[x\\](<https://evil.example.com>)"),
    ("<javascript:alert(1)|click>", "click"),
    ("<javascript:alert(1)>", "\\<javascript:alert(1)\\>"),
    ("a < b > c", "a \\< b \\> c"),
    ("", ""),
]


@pytest.mark.parametrize(("mrkdwn", "markdown"), MRKDWN)
def test_mrkdwn_conversion_table(mrkdwn: str, markdown: str) -> None:
    assert mrkdwn_to_markdown(mrkdwn) == markdown


A = f'target="_blank" rel="{LINK_REL}"'
RENDERED = [
    ("*bold* _italic_ ~strike~", "<p><strong>bold</strong> <em>italic</em> <s>strike</s></p>"),
    ("2*3*4 snake_case_name", "<p>2*3*4 snake_case_name</p>"),
    (
        "https://x.example.com/a_b_c_d",
        f'<p><a href="https://x.example.com/a_b_c_d" {A}>https://x.example.com/a_b_c_d</a></p>',
    ),
    ("<https://x.example.com|x>", f'<p><a href="https://x.example.com" {A}>x</a></p>'),
    ("&lt;script&gt;", "<p>&lt;script&gt;</p>"),
    ("```\n<b>\n```", "<pre><code>&lt;b&gt;\n</code></pre>"),
    ("> q", "<blockquote>\n<p>q</p>\n</blockquote>"),
]


@pytest.mark.parametrize(("mrkdwn", "html"), RENDERED)
def test_converted_mrkdwn_renders_as_slack_shows_it(mrkdwn: str, html: str) -> None:
    assert render(mrkdwn_to_markdown(mrkdwn)) == html


def test_here_and_channel_become_group_mentions_in_the_body() -> None:
    message = payload_parse({"text": "<!here> deploy, <!channel> too"})
    assert message.fallback == "@here deploy, @room too"
    html = render(message.markdown, group_mention="here")
    assert '<span class="mention" data-group="here">@here</span>' in html


def test_user_mentions_are_chips_where_the_write_path_resolves_them() -> None:
    message = payload_parse({"text": "ping <@bob_smith|Bob>"})
    assert message.fallback == "ping @bob_smith"
    html = render(message.markdown, mentions=["bob_smith"])
    assert '<span class="mention" data-user="bob_smith">@bob_smith</span>' in html


def test_fields_of_the_sender() -> None:
    message = payload_parse(
        {
            "text": "x",
            "username": "  Deploy\u202e\x00 \n bot  " + "x" * 100,
            "icon_url": "https://cdn.example.com/i.png",
            "icon_emoji": ":rocket:",
            "channel": "#Ops-Room",
            "response_type": "in_channel",
            "thread_ts": "1700000000.000100",
        }
    )
    assert message.username == ("Deploy bot " + "x" * 100)[:80]
    assert message.icon_url == "https://cdn.example.com/i.png"
    assert (message.icon_emoji, message.channel) == ("🚀", "ops-room")
    assert (message.thread, message.thread_here, message.response_type) == (
        None,
        False,
        "in_channel",
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "/relative.png",
        "ftp://x.example.com/i.png",
        "https://x.example.com/" + "a" * 500,
        "https://x.example.com/a b.png",
        "https:///nohost",
    ],
)
def test_icon_url_keeps_only_short_http_addresses(url: str) -> None:
    assert payload_parse({"text": "x", "icon_url": url}).icon_url == ""


@pytest.mark.parametrize(("value", "emoji"), [(":tada:", "🎉"), ("tada", "🎉"), (":nope_x:", "")])
def test_icon_emoji_through_the_shortcode_table(value: str, emoji: str) -> None:
    assert payload_parse({"text": "x", "icon_emoji": value}).icon_emoji == emoji


@pytest.mark.parametrize(
    ("thread", "expected"), [(42, (42, False)), (True, (None, True)), (False, (None, False))]
)
def test_thread_is_a_root_id_or_true(thread: object, expected: tuple[int | None, bool]) -> None:
    message = payload_parse({"text": "x", "thread": thread})
    assert (message.thread, message.thread_here) == expected


def test_attachment_fallback_is_only_the_body_and_only_without_other_text() -> None:
    message = payload_parse({"attachments": [{"fallback": "<!here> only this", "color": "good"}]})
    assert (message.card_html, message.fallback) == ("", "@here only this")
    message = payload_parse({"attachments": [{"fallback": "hidden", "title": "shown"}]})
    assert "hidden" not in message.fallback
    assert "hidden" not in message.card_html


@pytest.mark.parametrize(
    ("color", "attribute"),
    [
        ("good", ' data-color="#2eb886"'),
        ("warning", ' data-color="#daa038"'),
        ("danger", ' data-color="#a30200"'),
        ("#ABC", ' data-color="#abc"'),
        ("36a64f", ' data-color="#36a64f"'),
        ("red", ""),
        ("#12345", ""),
        ('#fff" onmouseover="alert(1)', ""),
    ],
)
def test_attachment_colours(color: str, attribute: str) -> None:
    html = payload_parse({"attachments": [{"color": color, "text": "x"}]}).card_html
    assert html.startswith(f'<div class="card"{attribute}>')


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (1714550400, "2024-05-01 08:00 UTC"),
        (1714550400.75, "2024-05-01 08:00 UTC"),
        ("1714550400", "2024-05-01 08:00 UTC"),
        (1714550400000, ""),  # milliseconds: out of range, left out
        (10**400, ""),
        (float("nan"), ""),
        ("-1", "1969-12-31 23:59 UTC"),
    ],
)
def test_attachment_ts_as_utc_text(ts: object, text: str) -> None:
    message = payload_parse({"attachments": [{"footer": "F", "ts": ts}]})
    assert message.card_html.endswith(
        f'<p class="card-footer">F{" · " + text if text else ""}</p></div>'
    )


def test_images_are_links_named_by_their_file() -> None:
    message = payload_parse(
        {
            "attachments": [
                {
                    "image_url": "https://i.example.com/a/graph.png?x=1",
                    "thumb_url": "https://i.example.com/",
                }
            ],
            "blocks": [
                {"type": "image", "image_url": "https://i.example.com/b.png", "alt_text": "chart"}
            ],
        }
    )
    assert f'<a href="https://i.example.com/a/graph.png?x=1" {A}>graph.png</a>' in message.card_html
    assert f'<a href="https://i.example.com/" {A}>image</a>' in message.card_html
    assert f'<p class="block-image"><a href="https://i.example.com/b.png" {A}>chart</a></p>' in (
        message.card_html
    )


def test_plain_text_objects_are_not_read_as_mrkdwn() -> None:
    message = payload_parse(
        {
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "*not bold* <b> :tada:"}},
                {"type": "section", "text": {"type": "plain_text", "text": "<!here> _x_"}},
            ]
        }
    )
    assert '<p class="block-header">*not bold* &lt;b&gt; 🎉</p>' in message.card_html
    assert "<p>&lt;!here&gt; _x_</p>" in message.card_html


def test_rich_text_shows_its_text() -> None:
    block = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Hi ", "style": {"bold": True}},
                    {"type": "user", "user_id": "ann"},
                    {"type": "text", "text": ", see "},
                    {"type": "link", "url": "https://x.example.com", "text": "this"},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "name": "tada"},
                    {"type": "broadcast", "range": "here"},
                    {"type": "channel", "channel_id": "ops"},
                ],
            },
            {
                "type": "rich_text_list",
                "style": "bullet",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]},
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "two"}]},
                ],
            },
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "a <b>"}]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "quoted"}]},
            {"type": "unknown_container", "elements": [{"type": "text", "text": "skipped"}]},
        ],
    }
    message = payload_parse({"blocks": [block]})
    assert message.card_html == (
        '<div class="blocks"><div class="block-rich"><p><strong>Hi </strong>@ann, see '
        f'<a href="https://x.example.com" {A}>this</a> 🎉@here#ops</p>'
        "<ul><li>one</li><li>two</li></ul><pre><code>a &lt;b&gt;</code></pre>"
        "<blockquote><p>quoted</p></blockquote></div></div>"
    )
    assert message.fallback == "Hi @ann, see this 🎉@here#ops\none\ntwo\na <b>\nquoted"


def test_unknown_blocks_are_skipped_and_dividers_alone_are_nothing() -> None:
    message = payload_parse({"text": "t", "blocks": [{"type": "actions"}, {"type": "divider"}, {}]})
    assert (message.card_html, message.markdown) == ("", "t")
    with pytest.raises(PayloadError) as caught:
        payload_parse({"blocks": [{"type": "divider"}, {"type": "video", "title": "x"}]})
    assert caught.value.code == "no_text"


def test_the_body_is_cut_to_the_limit() -> None:
    message = payload_parse({"text": "word " * 100}, max_body_chars=20)
    assert message.fallback == "word word word word…"
    assert len(message.fallback) == 20
    assert len(message.markdown) > 400  # only the body is cut


@pytest.mark.parametrize(
    ("payload", "code", "detail"),
    [
        ([], "invalid_payload", "the payload must be a JSON object"),
        ("text", "invalid_payload", "the payload must be a JSON object"),
        ({"text": 5}, "invalid_payload", "payload.text must be a string"),
        ({"text": "x", "username": ["a"]}, "invalid_payload", "payload.username must be a string"),
        ({"attachments": {}}, "invalid_payload", "payload.attachments must be a list"),
        ({"attachments": ["x"]}, "invalid_payload", "payload.attachments[0] must be a JSON object"),
        ({"attachments": [{}] * 101}, "invalid_payload", "at most 100"),
        (
            {"attachments": [{"fields": [{"title": "t"}] * 51}]},
            "invalid_payload",
            "payload.attachments[0].fields holds 51 items; at most 50",
        ),
        (
            {"attachments": [{"fields": [{"title": "t", "short": "yes"}]}]},
            "invalid_payload",
            "payload.attachments[0].fields[0].short must be true or false",
        ),
        (
            {"attachments": [{"text": "x", "ts": "yesterday"}]},
            "invalid_payload",
            "payload.attachments[0].ts must be unix seconds",
        ),
        ({"attachments": [{"text": "x", "ts": True}]}, "invalid_payload", "unix seconds"),
        ({"blocks": [{"type": "divider"}] * 101}, "invalid_payload", "at most 100"),
        (
            {
                "blocks": [{"type": "divider"}] * 60,
                "attachments": [{"blocks": [{"type": "divider"}] * 41}],
            },
            "invalid_payload",
            "more than 100 blocks",
        ),
        ({"blocks": [{"type": 3}]}, "invalid_payload", "payload.blocks[0].type must be a string"),
        (
            {"blocks": [{"type": "section", "text": "plain"}]},
            "invalid_payload",
            "payload.blocks[0].text must be a JSON object",
        ),
        (
            {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}]},
            "invalid_payload",
            "at most 10",
        ),
        (
            {
                "blocks": [
                    {
                        "type": "rich_text",
                        "elements": [
                            {"type": "rich_text_list", "elements": [{"type": "rich_text_list"}]}
                        ],
                    }
                ]
            },
            "invalid_payload",
            "must be a rich_text_section",
        ),
        ({"text": "x", "thread": "12"}, "invalid_payload", "payload.thread must be"),
        ({"text": "x", "thread": 0}, "invalid_payload", "payload.thread must be"),
        ({"text": "x", "response_type": "public"}, "invalid_payload", "payload.response_type"),
        ({}, "no_text", "no text"),
        ({"text": "  \n "}, "no_text", "no text"),
        ({"text": "", "attachments": [{"color": "good"}], "blocks": []}, "no_text", "no text"),
    ],
)
def test_errors_say_which_field(payload: object, code: str, detail: str) -> None:
    with pytest.raises(PayloadError) as caught:
        payload_parse(payload)
    assert caught.value.code == code
    assert detail in caught.value.detail


# Every place a payload's string reaches: each XSS string goes into all of them.
def xss_payloads(value: str) -> list[object]:
    text = {"type": "mrkdwn", "text": value}
    plain = {"type": "plain_text", "text": value}
    return [
        {"text": value, "icon_url": value, "username": value, "icon_emoji": value},
        {"text": f"<{value}|x> <x|{value}> <!date^1|{value}>"},
        {
            "attachments": [
                {
                    key: value
                    for key in (
                        "fallback",
                        "color",
                        "pretext",
                        "author_name",
                        "author_link",
                        "title",
                        "title_link",
                        "text",
                        "footer",
                        "image_url",
                        "thumb_url",
                    )
                }
                | {"fields": [{"title": value, "value": value, "short": True}]}
            ]
        },
        {
            "blocks": [
                {"type": "section", "text": text, "fields": [text, plain]},
                {"type": "section", "text": plain},
                {"type": "header", "text": plain},
                {"type": "context", "elements": [text, plain]},
                {"type": "image", "image_url": value, "alt_text": value},
                {
                    "type": "rich_text",
                    "elements": [
                        {
                            "type": "rich_text_section",
                            "elements": [
                                {"type": "text", "text": value},
                                {"type": "link", "url": value, "text": value},
                                {"type": "emoji", "name": value},
                            ],
                        }
                    ],
                },
            ]
        },
    ]


@pytest.mark.parametrize(
    "value", [*XSS, "javascript:alert(1)", "data:text/html,x", "#fff;x:expression(1)"]
)
def test_xss_never_survives_anywhere_in_a_payload(value: str) -> None:
    codes: list[str] = []
    for payload in xss_payloads(value):
        try:
            message = payload_parse(payload)
        except PayloadError as error:  # "<!-- x -->" reads as a Slack command: no text
            codes.append(error.code)
            continue
        assert_card_markup(message.card_html)
        assert_card_markup(render(message.markdown))
        assert not message.icon_url
    assert set(codes) <= {"no_text"}


HARD = "[" * 2000 + "*a " * 300 + "<" * 200  # slow shapes for markdown-it and the regexes
HEAVY = {
    "long texts": {
        "text": "[" * 100_000,
        "attachments": [{"pretext": HARD, "text": HARD} for _ in range(25)],
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": HARD}}] * 20,
    },
    "many fields": {
        "attachments": [
            {"text": "x", "fields": [{"title": "t", "value": "*v* <https://x.com/a|l>"}] * 50}
            for _ in range(100)
        ]
    },
    "many links": {"attachments": [{"text": "<https://x.com/a|b> " * 135} for _ in range(100)]},
    "emphasis": {
        "attachments": [{"text": "*a _b " * 430, "footer": "~c " * 30} for _ in range(100)]
    },
}


@pytest.mark.parametrize("shape", sorted(HEAVY))
def test_a_256_kib_payload_renders_in_bounded_time(shape: str) -> None:
    payload = HEAVY[shape]
    assert len(json.dumps(payload)) >= 256 * 1024
    started = time.process_time()
    message = payload_parse(payload)
    render(message.markdown)  # what the write path does next
    elapsed = time.process_time() - started
    assert message.card_html
    assert len(message.fallback) <= 4000
    assert elapsed < 1.0, elapsed  # ~0.2 s on the development machine


class CardChecker(HTMLParser):
    """Every element, attribute and class of card HTML against CARD_ALLOWED."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in CARD_ALLOWED:
            self.problems.append(f"element {tag}")
        for name, value in attrs:
            if name not in CARD_ALLOWED.get(tag, frozenset()) or name.startswith("on"):
                self.problems.append(f"attribute {tag}.{name}")
            if name == "class" and tag in CARD_CLASSES and value not in CARD_CLASSES[tag]:
                self.problems.append(f"class {tag}.{value}")
            if name == "href" and (value or "").split(":", 1)[0].lower() not in LINK_SCHEMES:
                self.problems.append(f"href {value}")
        if tag == "a" and (dict(attrs).get("rel"), dict(attrs).get("target")) != (
            LINK_REL,
            "_blank",
        ):
            self.problems.append("link without rel/target")

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment")


def assert_card_markup(html: str) -> None:
    checker = CardChecker()
    checker.feed(html)
    checker.close()
    assert not checker.problems, (checker.problems, html)
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<style" not in lowered
    assert "<img" not in lowered
    assert card_clean(html) == html, html  # cleaning again changes nothing


def test_slack_message_is_frozen() -> None:
    message = payload_parse({"text": "x"})
    assert isinstance(message, SlackMessage)
    with pytest.raises(AttributeError):
        message.markdown = "y"  # type: ignore[misc]
