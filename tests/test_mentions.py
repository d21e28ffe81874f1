"""Mention parsing rules (chat/content/mentions.py): pure, no database."""

import pytest

from chat.content.mentions import group_mention, lowered, mention_candidates, mentions_resolve

MEMBERS = lowered(["Bob", "ann", "bob.smith", "x-ray", "dev+ops"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("hi @bob", ["Bob"]),
        ("hi @BOB and @Ann", ["Bob", "ann"]),
        ("thanks @bob.", ["Bob"]),
        ("thanks @bob, @ann!", ["Bob", "ann"]),
        ("(@ann) and @bob?", ["ann", "Bob"]),
        ("@bob.smith said", ["bob.smith"]),
        ("@bob.smith. said", ["bob.smith"]),
        ("mail bob@ann.com", []),
        ("@@bob", []),
        ("@carol is not a member", []),
        ("@bob @bob @Bob", ["Bob"]),
        ("@x-ray and @dev+ops", ["x-ray", "dev+ops"]),
        ("@", []),
        ("no mention at all", []),
        ("@ann:", ["ann"]),
        ("line\n@ann", ["ann"]),
    ],
)
def test_mentions_resolve(body: str, expected: list[str]) -> None:
    assert mentions_resolve(body, MEMBERS) == expected


def test_candidates_offer_both_spellings_lowercased_once() -> None:
    assert mention_candidates("@Bob. @bob @Ann") == ["bob.", "bob", "ann"]


def test_long_hostile_input_is_linear() -> None:
    body = "@" * 4000
    assert mentions_resolve(body, MEMBERS) == []
    assert mentions_resolve("@bob " * 800, MEMBERS) == ["Bob"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("@room please read", "room"),
        ("@ROOM, please", "room"),
        ("(@here)", "here"),
        ("@here and @room", "room"),  # @room reaches everyone @here does
        ("@Here!", "here"),
        ("mail room@here.com", ""),
        ("@rooms is a name", ""),
        ("@@here", ""),
        ("nothing", ""),
    ],
)
def test_group_mention(body: str, expected: str) -> None:
    assert group_mention(body) == expected


def test_here_and_room_are_keywords_never_names() -> None:
    members = lowered(["room", "here", "ann"])
    assert mentions_resolve("@room @here @ann", members) == ["ann"]
