"""Frame parsing: every bad frame maps to its documented error code."""

import json

import pytest

from chat.errors import ChatError
from chat.protocol.parsing import (
    MAX_CLIENT_ID_CHARS,
    MAX_RESUME_ROOMS,
    Command,
    DeleteMessage,
    EditMessage,
    FetchHistory,
    FetchOnline,
    JoinRoom,
    LeaveRoom,
    ReadRoom,
    SendMessage,
    Typing,
    WatchRoom,
    parse_after_rooms,
    parse_frame,
)


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


# --- the all-rooms endpoint (/ws/chat/) -------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "command"),
    [
        (
            {"type": "message.send", "room": "lobby", "body": "hi", "client_id": "c"},
            SendMessage(body="hi", client_id="c", room="lobby"),
        ),
        (
            {"type": "history.fetch", "room": "lobby", "before": 9},
            FetchHistory(before=9, limit=50, room="lobby"),
        ),
        ({"type": "typing", "room": "lobby"}, Typing(room="lobby")),
        ({"type": "room.read", "room": "lobby", "seq": 117}, ReadRoom(room="lobby", seq=117)),
        ({"type": "room.read", "room": "lobby", "seq": 0}, ReadRoom(room="lobby", seq=0)),
        ({"type": "room.join", "room": "design"}, JoinRoom(room="design")),
        ({"type": "room.leave", "room": "design"}, LeaveRoom(room="design")),
        ({"type": "room.watch", "room": "design"}, WatchRoom(room="design")),
        ({"type": "room.watch", "room": None}, WatchRoom(room=None)),
        ({"type": "online.fetch", "room": "lobby"}, FetchOnline(room="lobby")),
        ({"type": "message.edit", "id": 4, "body": "b"}, EditMessage(id=4, body="b")),
        ({"type": "message.delete", "id": 4}, DeleteMessage(id=4)),
    ],
)
def test_all_rooms_frames_parse(frame: dict[str, object], command: Command) -> None:
    assert parse_frame(json.dumps(frame), all_rooms=True) == command


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message.send", "body": "hi", "client_id": "c"},
        {"type": "message.send", "room": "", "body": "hi", "client_id": "c"},
        {"type": "message.send", "room": 5, "body": "hi", "client_id": "c"},
        {"type": "history.fetch", "before": 9},
        {"type": "typing"},
        {"type": "room.read", "room": "lobby"},
        {"type": "room.read", "room": "lobby", "seq": -1},
        {"type": "room.read", "room": "lobby", "seq": True},
        {"type": "room.read", "seq": 3},
        {"type": "room.join"},
        {"type": "room.leave", "room": None},
        {"type": "room.watch"},
        {"type": "online.fetch", "room": "x" * 101},
    ],
)
def test_all_rooms_frames_without_a_valid_room_or_seq_are_bad_frames(
    frame: dict[str, object],
) -> None:
    with pytest.raises(ChatError) as caught:
        parse_frame(json.dumps(frame), all_rooms=True)
    assert caught.value.code == "bad_frame"


def test_a_send_without_room_still_names_its_client_id() -> None:
    with pytest.raises(ChatError) as caught:
        parse_frame('{"type": "message.send", "body": "x", "client_id": "c-1"}', all_rooms=True)
    assert caught.value.as_frame()["client_id"] == "c-1"


@pytest.mark.parametrize(
    "kind", ["room.read", "room.join", "room.leave", "room.watch", "online.fetch"]
)
def test_room_frames_are_unknown_on_the_per_room_endpoint(kind: str) -> None:
    with pytest.raises(ChatError) as caught:
        parse_frame(json.dumps({"type": kind, "room": "lobby", "seq": 1}))
    assert caught.value.code == "unknown_type"


def test_per_room_frames_ignore_a_room_field() -> None:
    frame = '{"type": "message.send", "room": "other", "body": "hi", "client_id": "c"}'
    assert parse_frame(frame) == SendMessage(body="hi", client_id="c")


@pytest.mark.parametrize(
    ("query", "after"),
    [
        (b"", {}),
        (b"after=", {}),
        (b"after=lobby:120", {"lobby": 120}),
        (b"after=lobby:120,dm-1-2:0", {"lobby": 120, "dm-1-2": 0}),
        (b"other=1&after=a:1", {"a": 1}),
    ],
)
def test_resume_points_parse(query: bytes, after: dict[str, int]) -> None:
    assert parse_after_rooms(query) == after


@pytest.mark.parametrize(
    "query",
    [
        b"after=lobby",
        b"after=lobby:",
        b"after=:5",
        b"after=lobby:x",
        b"after=lobby:-1",
        b"after=lobby:1,,b:2",
        b"after=lobby:\xd9\xa3",  # a non-ASCII digit
        b"after=" + b",".join(b"r%d:1" % n for n in range(MAX_RESUME_ROOMS + 1)),
    ],
)
def test_bad_resume_points_raise_bad_after(query: bytes) -> None:
    with pytest.raises(ChatError) as caught:
        parse_after_rooms(query)
    assert caught.value.code == "bad_after"


def test_200_resume_points_are_allowed() -> None:
    query = b"after=" + b",".join(b"r%d:1" % n for n in range(MAX_RESUME_ROOMS))
    assert len(parse_after_rooms(query)) == MAX_RESUME_ROOMS
