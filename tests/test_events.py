"""The contract between services and hubs, and between the server and its clients:
every channel-layer event survives the layer's serialisation and keeps its declared
shape, and every frame a client can receive is declared (chat/events/frames.py)."""

import ast
import json
import re
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from chat import events
from chat.events.frames import SERVER_FRAMES, frame_problems, shape_problems
from chat.selectors import MessageOut
from tests.conftest import frame_check
from tests.servers import ROOT

MESSAGE: MessageOut = {
    "id": 7,
    "room": "general",
    "seq": 3,
    "author": "alice",
    "author_display_name": "Alice",
    "author_avatar": "/api/users/alice/avatar/",
    "author_bot": False,
    "author_icon_emoji": None,
    "body": "hi **all**",
    "html": "<p>hi <strong>all</strong></p>",
    "reply_to": None,
    "created_at": "2026-12-06T10:00:00+00:00",
    "client_id": "c1",
    "edited_at": None,
    "kind": "user",
    "attachment": None,
    "mentions": [],
    "group_mention": None,
    "reactions": [],
    "thread": None,
    "also_to_room": False,
    "thread_summary": None,
    "deleted": False,
}
STATE = {"last_read_seq": 1, "unread": 2, "mentions": 0, "last_seq": 3}
PROFILE = {"username": "bob", "display_name": "Bob", "avatar": "/a.png", "author_bot": False}

# One of each event a service can publish, built by its constructor.
SAMPLES = [
    events.messages_saved([(1, MESSAGE)]),
    events.room_frame(1, {"type": "typing", "room": "general", "user": "bob", "thread": None}),
    events.room_frame(1, {"type": "message.deleted"}, exclude_user="bob", after_seq=3),
    events.kick(username="bob", room_id=None, code=4403),
    events.counts(1, "general", {5: STATE}),  # type: ignore[dict-item]
    events.membership(user_id=5, room_id=1, room="general", action="left", reason="banned"),
    events.profile(PROFILE),  # type: ignore[arg-type]
    events.sessions_end(session_keys=["k1"], code=4401),
    events.session_renamed(old="k1", new="k2"),
    events.user_frame(5, {"type": "notify.prefs", "paused_until": None, "email_missed": True}),
    events.thread_states(
        {
            5: [
                {
                    "room": "general",
                    "root": 7,
                    "following": True,
                    "last_read_seq": 3,
                    "unread": 1,
                    "mentions": 0,
                    "last_seq": 4,
                }
            ]
        }
    ),
]
LEGACY = {"type": "chat.message", "room_id": 1, "seq": 3, "frame": events.message_frame(MESSAGE)}


def test_every_event_kind_has_a_sample_here() -> None:
    kinds = {publication.event["type"] for publication in SAMPLES} | {LEGACY["type"]}
    assert kinds == set(events.EVENT_TYPES)


@pytest.mark.parametrize("event", [p.event for p in SAMPLES] + [LEGACY], ids=lambda e: e["type"])
def test_an_event_round_trips_through_json_and_msgpack_with_its_shape(event: Any) -> None:
    shape = events.EVENT_TYPES[event["type"]]
    assert shape_problems(event, shape) == []
    through_json = json.loads(json.dumps(event))
    through_msgpack = msgpack.unpackb(msgpack.packb(event), strict_map_key=False)
    assert through_json == through_msgpack
    assert shape_problems(through_msgpack, shape) == []
    # A message event carries ready frames: each is one a client may receive.
    if event["type"] == "chat.message":
        assert frame_problems(json.loads(through_msgpack["frame"])) == []
    if event["type"] == "chat.messages":
        for _room, _seq, frame in through_msgpack["items"]:
            assert frame_problems(json.loads(frame)) == []


def test_a_frame_is_checked_against_its_declared_shape() -> None:
    assert frame_problems({"type": "message", "room": "general", "message": MESSAGE}) == []
    assert (
        frame_problems({"type": "typing", "room": "general", "user": "bob", "thread": None}) == []
    )
    assert frame_problems({"type": "typing.v2", "room": "x"}) == [
        "undeclared frame type 'typing.v2' (add it to chat/events/frames.py)"
    ]
    assert frame_problems({"type": "typing", "room": "general", "thread": None}) == [
        "typing: missing 'user'"
    ]
    assert frame_problems(
        {"type": "typing", "room": "g", "user": "b", "thread": 1, "secret": 1}
    ) == ["typing: unexpected 'secret'"]
    wrong = {"type": "message", "room": "general", "message": {**MESSAGE, "seq": "3"}}
    assert frame_problems(wrong) == ["message.message.seq: not an integer"]
    with pytest.raises(AssertionError, match="undeclared frame type"):
        frame_check(json.dumps({"type": "surprise"}))


def _frame_types_in_source() -> set[str]:
    """Every "type" a dict literal in the server's code gives a frame (not an event of
    the channel layer, not ASGI's own)."""
    found: set[str] = set()
    for path in [*ROOT.joinpath("chat").rglob("*.py"), *ROOT.joinpath("accounts").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "type"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        found.add(value.value)
    return {t for t in found if not t.startswith(("chat.", "websocket.", "http"))}


def test_every_frame_type_the_code_builds_is_declared_and_documented() -> None:
    built = _frame_types_in_source()
    assert built, "the scan found the frames the code builds"
    assert built - set(SERVER_FRAMES) == set()
    protocol = Path(ROOT / "docs" / "protocol.md").read_text()
    undocumented = {t for t in SERVER_FRAMES if not re.search(rf'`{re.escape(t)}`|"{t}"', protocol)}
    assert undocumented == set()
