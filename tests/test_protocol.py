"""Frame parsing: every bad frame maps to its documented error code."""

import pytest

from chat.errors import ChatError
from chat.protocol import MAX_CLIENT_ID_CHARS, SendMessage, parse_frame


def test_send_frame_parses_into_command() -> None:
    command = parse_frame('{"type": "message.send", "body": "hi", "client_id": "c1"}')
    assert command == SendMessage(body="hi", client_id="c1")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        ("", "bad_json"),
        ("[" * 100_000, "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('"text"', "bad_frame"),
        ("{}", "bad_frame"),
        ('{"type": 5}', "bad_frame"),
        ('{"type": "launch.missiles"}', "unknown_type"),
        ('{"type": "message.send", "client_id": "c"}', "empty_body"),
        ('{"type": "message.send", "body": 5, "client_id": "c"}', "bad_frame"),
        ('{"type": "message.send", "body": "hi"}', "bad_client_id"),
        ('{"type": "message.send", "body": "hi", "client_id": ""}', "bad_client_id"),
        ('{"type": "message.send", "body": "hi", "client_id": 7}', "bad_client_id"),
        ('{"type": "message.send", "body": "hi", "client_id": "a\\nb"}', "bad_client_id"),
        (
            '{"type": "message.send", "body": "hi", "client_id": "%s"}'
            % ("x" * (MAX_CLIENT_ID_CHARS + 1)),
            "bad_client_id",
        ),
    ],
)
def test_bad_frames_raise_documented_codes(frame: str, code: str) -> None:
    with pytest.raises(ChatError) as caught:
        parse_frame(frame)
    assert caught.value.code == code
    error = caught.value.as_frame()
    assert (error["type"], error["code"], error["detail"]) == ("error", code, caught.value.detail)


def test_unknown_type_detail_does_not_echo_huge_input() -> None:
    with pytest.raises(ChatError) as caught:
        parse_frame('{"type": "%s"}' % ("y" * 10_000))
    assert len(caught.value.detail) < 100


def test_send_errors_name_the_refused_message() -> None:
    with pytest.raises(ChatError) as caught:
        parse_frame('{"type": "message.send", "body": 5, "client_id": "c-9"}')
    assert caught.value.as_frame()["client_id"] == "c-9"
    with pytest.raises(ChatError) as caught:
        parse_frame('{"type": "message.send", "body": "x", "client_id": ""}')
    assert "client_id" not in caught.value.as_frame()
