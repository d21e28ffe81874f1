"""The wire-code registry (chat/protocol/codes.py) against its copies: the generated
codes.js, the tables of docs/protocol.md and docs/api.md, the page's scripts, and the
metrics' frame-type labels."""

import json
import re
from http import HTTPStatus
from typing import Any

import pytest

from chat.ops import observability
from chat.protocol import codes, parsing
from chat.protocol.codes import ERRORS, LOST_ACCESS, CloseCode, ErrorCode, FrameType
from tests.servers import ROOT

DOCS = ROOT / "docs"
STATIC = ROOT / "chat" / "static" / "chat"


def _tables(markdown: str, header: str) -> list[list[str]]:
    """The first cells of the rows of every table whose header row starts with `header`."""
    rows: list[list[str]] = []
    inside = False
    for line in markdown.splitlines():
        if line.startswith(header):
            inside = True
        elif inside and line.startswith("|"):
            if not line.startswith("| ---"):
                rows.append([cell.strip() for cell in line.strip("|").split("|")])
        else:
            inside = False
    return rows


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_error_code_has_a_spec() -> None:
    assert set(ERRORS) == set(ErrorCode)
    assert {ErrorCode.FORBIDDEN, ErrorCode.BANNED} == LOST_ACCESS
    assert all(ERRORS[code].drops_room for code in LOST_ACCESS)
    assert {code for code, spec in ERRORS.items() if spec.retryable} == {
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.UNAVAILABLE,
    }


def test_the_close_code_table_matches_the_registry() -> None:
    rows = _tables((DOCS / "protocol.md").read_text(), "| close code |")
    documented = [int(code) for row in rows for code in _ticked(row[0])]
    assert sorted(documented) == sorted(set(documented)), "a close code documented twice"
    assert set(documented) == {int(code) for code in CloseCode}


def test_the_error_tables_of_the_protocol_match_the_registry() -> None:
    rows = _tables((DOCS / "protocol.md").read_text(), "| code | cause |")
    documented = {code for row in rows for code in _ticked(row[0])}
    sent = {str(code) for code, spec in ERRORS.items() if spec.socket}
    assert documented - sent == set(), "documented but not in the registry as sent"
    assert sent - documented == set(), "sent on the socket but not documented"


def test_the_api_status_table_matches_the_registry() -> None:
    rows = _tables((DOCS / "api.md").read_text(), "| status | codes |")
    documented: dict[str, int] = {}
    for row in rows:
        for code in re.findall(r"(?:^|, )`([a-z_]+)`", row[1]):
            assert code not in documented, f"{code} documented twice"
            documented[code] = int(row[0])
    expected = {str(code): int(status) for code, status in codes.HTTP_STATUS.items()}
    assert documented == expected


def test_no_such_room_is_one_code_on_both_transports() -> None:
    spec = ErrorCode.ROOM_NOT_FOUND.spec
    assert (spec.socket, spec.http, spec.status) == (True, True, HTTPStatus.NOT_FOUND)
    assert int(CloseCode.ROOM_NOT_FOUND) - 4000 == HTTPStatus.NOT_FOUND


def test_codes_js_is_current() -> None:
    assert (STATIC / "codes.js").read_text() == codes.render_js(), (
        "chat/static/chat/codes.js is stale: run `python -m chat.protocol.codes`"
    )
    assert codes.main(["--check"]) == 0


@pytest.mark.parametrize("name", ["socket.js", "frames.js", "composer.js"])
def test_the_page_takes_its_codes_from_codes_js(name: str) -> None:
    source = (STATIC / name).read_text()
    assert 'from "./codes.js"' in source
    code_lines = [line for line in source.splitlines() if not line.lstrip().startswith("//")]
    text = "\n".join(line.split("//")[0] for line in code_lines)
    # A close code compared or passed as a number (other numbers are times and sizes).
    close_literals = set(re.findall(r"(?:code\s*[!=]==?\s*|closed\()(\d+)", text))
    assert not close_literals, f"{name} writes close codes as numbers: {close_literals}"
    error_literals = set(re.findall(r'"([a-z_]+)"', text)) & {str(code) for code in ErrorCode}
    # "banned" is also a room.left reason and a store state, which are not error codes.
    assert error_literals <= {"banned"}, f"{name} writes error codes as strings: {error_literals}"


FRAMES: dict[FrameType, dict[str, Any]] = {
    FrameType.MESSAGE_SEND: {"room": "r", "body": "hi", "client_id": "c1"},
    FrameType.MESSAGE_EDIT: {"id": 1, "body": "hi"},
    FrameType.MESSAGE_DELETE: {"id": 1},
    FrameType.HISTORY_FETCH: {"room": "r", "before": 5},
    FrameType.TYPING: {"room": "r"},
    FrameType.REACTION_ADD: {"message_id": 1, "emoji": "👍"},
    FrameType.REACTION_REMOVE: {"message_id": 1, "emoji": "👍"},
    FrameType.ROOM_READ: {"room": "r", "seq": 3},
    FrameType.ROOM_JOIN: {"room": "r"},
    FrameType.ROOM_LEAVE: {"room": "r"},
    FrameType.ROOM_WATCH: {"room": "r"},
    FrameType.ONLINE_FETCH: {"room": "r"},
    FrameType.NOTIFY_SET: {"room": "r", "level": "all"},
    FrameType.NOTIFY_PAUSE: {"until": None},
    FrameType.MEMBERS_SEARCH: {"room": "r", "prefix": "al"},
    FrameType.THREAD_FOLLOW: {"room": "r", "root": 1, "following": True},
    FrameType.THREAD_READ: {"room": "r", "root": 1, "seq": 3},
    FrameType.THREADS_FETCH: {"unread": True, "before": None, "limit": 20},
    FrameType.COMMAND_RUN: {"room": "r", "command": "/shrug", "text": ""},
}


def test_every_frame_type_is_parsed_and_named_back() -> None:
    assert set(FRAMES) == set(FrameType)
    for kind, fields in FRAMES.items():
        command = parsing.parse_frame(json.dumps({"type": kind, **fields}), all_rooms=True)
        assert parsing.frame_type(command) == kind


class _Recorder:
    """Stands in for the handling-time histogram: keeps the labels it was given."""

    def __init__(self) -> None:
        self.labelled: list[str] = []

    def labels(self, *, type: str) -> "_Recorder":
        self.labelled.append(str(type))
        return self

    def observe(self, value: float) -> None:
        assert value >= 0


def test_handling_time_is_labelled_with_every_frame_types_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(observability, "HANDLING_SECONDS", recorder)
    for kind, fields in FRAMES.items():
        command = parsing.parse_frame(json.dumps({"type": kind, **fields}), all_rooms=True)
        observability.frame_handled(command, observability.frame_received())
    observability.frame_handled(None, observability.frame_received())  # nothing parsed
    assert recorder.labelled == [*(str(kind) for kind in FRAMES), "other"]
