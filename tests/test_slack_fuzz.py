"""chat/content/slack under generated input: any JSON value is either a SlackMessage or a
PayloadError (never another exception), and the card HTML it gives is within the cards'
allow-list and unchanged by cleaning it again."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.content.rendering import render
from chat.content.slack import PayloadError, SlackMessage, mrkdwn_to_markdown, payload_parse
from tests.test_rendering import assert_well_formed
from tests.test_slack_payload import assert_card_markup

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
PIECES = [
    *"*_~`<>|&#:!@\n -",
    "```",
    "> ",
    "&gt;&gt;&gt; ",
    "1. ",
    "&lt;",
    "&gt;",
    "&amp;",
    "<!here>",
    "<!channel|@channel>",
    "<!date^1^{date}|Jan 1>",
    "<@bob>",
    "<#ops|Ops>",
    "<https://x.example.com/a_b|label>",
    "<mailto:a@example.com>",
    "https://x.example.com/a_(b)",
    "www.example.com",
    "<javascript:alert(1)|x>",
    "javascript:alert(1)",
    "data:text/html,x",
    "<script>",
    '" onclick="alert(1)',
    ":tada:",
    "word",
    "\U000f0000",  # the converter's placeholders: input may not forge one
    "\ud800",  # a lone surrogate: valid JSON, not valid UTF-8
]
TEXT = st.lists(st.sampled_from(PIECES), max_size=16).map("".join) | st.text(max_size=16)
URL = (
    st.sampled_from(
        ["https://x.example.com/p.png", "http://x.example.com", "javascript:alert(1)", "", "x"]
    )
    | TEXT
)
NUMBER = st.integers() | st.floats() | st.sampled_from(["1714550400", "1.5", "x"])


def objects(
    required: dict[str, st.SearchStrategy[object]], **optional: st.SearchStrategy[object]
) -> st.SearchStrategy[dict[str, object]]:
    return st.fixed_dictionaries(required, optional=optional)


def outcome(data: object, limit: int = 4000) -> SlackMessage | PayloadError:
    try:
        return payload_parse(data, max_body_chars=limit)
    except PayloadError as error:
        return error


TEXT_OBJECT = objects({"type": st.sampled_from(["mrkdwn", "plain_text", "other"]), "text": TEXT})
RICH_ELEMENT = objects(
    {"type": st.sampled_from(["text", "link", "emoji", "user", "channel", "broadcast", "date"])},
    text=TEXT,
    url=URL,
    name=TEXT,
    user_id=TEXT,
    channel_id=TEXT,
    range=st.sampled_from(["here", "channel", "everyone", "x"]),
    fallback=TEXT,
    style=st.fixed_dictionaries({}, optional={k: st.booleans() for k in ("bold", "code")}),
)
RICH_SECTION = objects(
    {"type": st.just("rich_text_section"), "elements": st.lists(RICH_ELEMENT, max_size=4)}
)
RICH_CONTAINER = RICH_SECTION | objects(
    {
        "type": st.sampled_from(["rich_text_list", "rich_text_quote", "rich_text_preformatted"]),
        "elements": st.lists(RICH_SECTION | RICH_ELEMENT, max_size=3),
    },
    style=st.sampled_from(["bullet", "ordered"]),
)
BLOCK = objects(
    {
        "type": st.sampled_from(
            ["section", "header", "divider", "context", "image", "rich_text", "actions"]
        )
    },
    text=TEXT_OBJECT,
    fields=st.lists(TEXT_OBJECT, max_size=3),
    elements=st.lists(TEXT_OBJECT | RICH_CONTAINER, max_size=3),
    image_url=URL,
    alt_text=TEXT,
)
FIELD = objects({}, title=TEXT, value=TEXT, short=st.booleans())
ATTACHMENT = objects(
    {},
    **{key: TEXT for key in ("fallback", "pretext", "author_name", "title", "text", "footer")},
    **{key: URL for key in ("author_link", "title_link", "image_url", "thumb_url")},
    color=st.sampled_from(["good", "danger", "#abc", "#AABBCC", "red"]) | TEXT,
    fields=st.lists(FIELD, max_size=3),
    ts=NUMBER,
    blocks=st.lists(BLOCK, max_size=2),
)
PAYLOAD = objects(
    {},
    text=TEXT,
    username=TEXT,
    icon_url=URL,
    icon_emoji=st.sampled_from([":rocket:", "tada", ":x_y:"]) | TEXT,
    channel=TEXT,
    thread=st.none() | st.booleans() | st.integers(),
    response_type=st.sampled_from(["ephemeral", "in_channel", "x"]),
    attachments=st.lists(ATTACHMENT, max_size=3),
    blocks=st.lists(BLOCK, max_size=4),
    unknown=JSON,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_is_a_message_or_a_payload_error(data: object) -> None:
    result = outcome(data)  # any other exception fails the test
    if isinstance(result, PayloadError):
        assert result.code in ("invalid_payload", "no_text")
        assert result.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAYLOAD, st.integers(min_value=1, max_value=200))
def test_slack_shaped_payloads_stay_within_the_allow_list(data: object, limit: int) -> None:
    message = outcome(data, limit)
    if isinstance(message, PayloadError):
        assert message.code in ("invalid_payload", "no_text")
        return
    assert isinstance(message, SlackMessage)
    assert_card_markup(message.card_html)  # includes: cleaning again changes nothing
    assert_well_formed(render(message.markdown, group_mention="here"))
    assert len(message.fallback) <= limit
    assert len(message.username) <= 80
    assert message.icon_url.startswith(("http://", "https://")) or not message.icon_url
    assert message.response_type in ("", "ephemeral", "in_channel")
    assert message.markdown or message.card_html or message.fallback.strip()


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_converted_mrkdwn_renders_well_formed(text: str) -> None:
    assert_well_formed(render(mrkdwn_to_markdown(text), mentions=["bob"], group_mention="here"))
