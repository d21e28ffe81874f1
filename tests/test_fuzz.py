"""Property-based: whatever a client throws at the chat socket — any JSON value, any
text, any bytes, frames shaped almost like commands — the connection survives, answers
each frame with at most one documented error, never leaks internals, and a valid
message afterwards is saved and delivered as usual."""

import json
import re
from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chat.models import Room
from tests.servers import ROOT

Open = Callable[..., Any]

# Leaks of internals: none may appear in a frame unless the client itself sent it.
LEAK_MARKERS = ("Traceback", 'File "', "Error(")
FRAME_LIMIT = 2048  # small, so some generated frames are over it

DOCUMENTED_CODES = set(
    re.findall(
        r"^\| `([a-z_]+)` \|",
        (ROOT / "docs" / "protocol.md").read_text().split("### `error`")[1].split("##")[0],
        re.M,
    )
)
# Close codes the server may use (docs/protocol.md); none is expected here, as this user
# is allowed in, not rate limited and not idle, but a documented one is not a crash.
DOCUMENTED_CLOSES = {1000, 1001, 1012, 4400, 4401, 4403, 4404, 4408, 4429}
KNOWN_TYPES = ["message.send", "message.edit", "message.delete", "history.fetch", "typing"]

# Lone surrogates cannot be UTF-8 encoded, but a JSON \udXXX escape decodes to one.
any_text = st.text(
    st.characters(codec=None) | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    max_size=50,
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and Infinity too: Python's json writes and reads them
    | st.text(max_size=50)
    | any_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Frames close to real commands reach the validation behind the JSON parse.
commandish = st.fixed_dictionaries(
    {"type": st.sampled_from(KNOWN_TYPES) | st.text(max_size=20)},
    optional={
        "body": json_values | st.text(max_size=3000) | any_text,
        "client_id": json_values | st.text(max_size=80) | any_text,
        "id": json_values,
        "before": json_values,
        "limit": json_values,
    },
)
frames = st.one_of(
    st.tuples(st.just("json"), json_values | commandish),
    st.tuples(st.just("text"), st.text(max_size=3000)),
    st.tuples(st.just("bytes"), st.binary(min_size=1, max_size=3000)),
)

examples = count()

NUL_BODY = {"type": "message.send", "body": "a\x00b", "client_id": "nul"}
SURROGATE_BODY = {"type": "message.send", "body": "a\ud800b", "client_id": "surrogate"}


SENTINEL = {"type": "history.fetch", "before": 1, "limit": 1}  # answered by one `history`


async def read_until_sentinel(comm: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Frames up to and including the sentinel's answer; or the close code if closed."""
    got: list[dict[str, Any]] = []
    while True:
        out = await comm.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return got, out.get("code", 1000)
        assert out["type"] == "websocket.send"
        assert "text" in out, "the server sent a binary frame"
        frame = json.loads(out["text"])
        frame["_raw"] = out["text"]
        got.append(frame)
        if frame["type"] == "history" and frame.get("before") == 1:
            return got, None


@pytest.mark.django_db(transaction=True)
@override_settings(CHAT_MESSAGE_BURST=0, CHAT_MAX_FRAME_BYTES=FRAME_LIMIT)
@settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sent=st.lists(frames, min_size=1, max_size=6))
@example(sent=[("json", NUL_BODY), ("json", SURROGATE_BODY)])
@example(sent=[("text", "[" * 2000), ("json", {"type": "message.delete", "id": 2**70})])
async def test_arbitrary_frames_never_crash_or_leak(
    open_socket: Open, alice: User, room: Room, sent: list[tuple[str, Any]]
) -> None:
    assert {"bad_json", "rate_limited", "frame_too_large"} <= DOCUMENTED_CODES
    comm = await open_socket(alice, f"/ws/chat/{room.slug}/")
    assert (await comm.connect())[0]
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello"
    try:
        client_text = ""
        for kind, value in sent:
            if kind == "bytes":
                await comm.send_to(bytes_data=value)
                client_text += value.decode("utf-8", "replace")
            else:
                text = value if kind == "text" else json.dumps(value)
                if not text:
                    continue  # an empty text frame cannot be sent through the communicator
                await comm.send_to(text_data=text)
                client_text += text
            await comm.send_json_to(SENTINEL)
            answers, closed = await read_until_sentinel(comm)
            for frame in answers:
                for marker in LEAK_MARKERS:
                    assert marker not in frame["_raw"] or marker in client_text, frame
            errors = [frame for frame in answers if frame["type"] == "error"]
            assert len(errors) <= 1, errors
            for error in errors:
                assert error["code"] in DOCUMENTED_CODES, error
                assert error["code"] != "internal_error", value
                assert isinstance(error["detail"], str)
                assert error["detail"]
            if closed is not None:
                assert closed in DOCUMENTED_CLOSES, closed
                return
        # Still fully usable: a valid message is acknowledged and delivered.
        client_id = f"after-fuzz-{next(examples)}"
        await comm.send_json_to(
            {"type": "message.send", "body": "still here", "client_id": client_id}
        )
        seen: set[str] = set()
        while seen != {"ack", "message"}:
            frame = await comm.receive_json_from(timeout=5)
            mine = frame.get("client_id") == client_id or (
                frame["type"] == "message" and frame["message"]["client_id"] == client_id
            )
            assert frame["type"] != "error", frame
            if mine:
                seen.add(frame["type"])
    finally:
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_unstorable_bodies_are_refused_with_a_validation_error(
    open_socket: Open, alice: User, room: Room
) -> None:
    comm = await open_socket(alice, f"/ws/chat/{room.slug}/")
    assert (await comm.connect())[0]
    await comm.receive_json_from()
    for frame in (SURROGATE_BODY, NUL_BODY):
        await comm.send_to(text_data=json.dumps(frame))
        answer = await comm.receive_json_from()
        assert answer["type"] == "error", answer
        assert answer["code"] != "internal_error", answer
