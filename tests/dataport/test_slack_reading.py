"""The Slack import's pure parts: the element-by-element JSON reader (whatever the
buffer cuts), an export zipped inside its folder, mrkdwn with Slack ids, reaction names."""

import io
import json
import zipfile
from pathlib import Path

import pytest

from dataport.slack import archive
from dataport.slack.archive import ArchiveError, SlackArchive, json_array_items
from dataport.slack.convert import Names, reaction_emoji, text_convert


def test_array_items_are_read_whole_across_any_buffer_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [
        {"ts": f"{i}.000100", "text": "é" * i + "你好", "n": [1, 2.5, None]} for i in range(40)
    ]
    data = json.dumps(items, ensure_ascii=False).encode()
    for chunk in (1, 3, 7, 64):
        monkeypatch.setattr(archive, "CHUNK_CHARS", chunk)
        assert list(json_array_items(io.BytesIO(b"\xef\xbb\xbf " + data))) == items
    assert list(json_array_items(io.BytesIO(b" [ ] "))) == []
    with pytest.raises(ArchiveError):
        list(json_array_items(io.BytesIO(b'{"not": "an array"}')))
    with pytest.raises(ArchiveError):
        list(json_array_items(io.BytesIO(b'[{"cut": ')))


def test_an_export_zipped_with_its_folder_is_read(tmp_path: Path) -> None:
    path = tmp_path / "e.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Acme Slack export/users.json", '[{"id": "U1"}]')
        zf.writestr("Acme Slack export/general/2021-01-02.json", '[{"ts": "2"}]')
        zf.writestr("Acme Slack export/general/2021-01-01.json", '[{"ts": "1"}]')
        zf.writestr("Acme Slack export/__uploads/F1/a.txt", "x")
    with SlackArchive(str(path)) as export:
        assert list(export.items("users.json")) == [{"id": "U1"}]
        assert list(export.items("groups.json")) == []
        days = export.days("general")
        assert [d.day for d in days] == ["2021-01-01", "2021-01-02"]
        assert [m["ts"] for d in days for m in export.messages(d)] == ["1", "2"]
        assert export.upload("F1", "a.txt") is not None
        assert export.upload("F2", "a.txt") is None


def test_mrkdwn_names_people_and_rooms_by_their_names_here() -> None:
    names = Names(
        users={"U1": "john_doe", "U2": "李"},
        rooms={"C1": ("dev-2", "dev")},
        site_url="https://chat.example/",
    )
    text = "<@U1|john> and <@U2>, <@U9> in <#C1|dev> / <#C9|elsewhere>: *ok* <!channel>"
    assert text_convert(text, names) == (
        "@john_doe and @李, @unknown in [#dev](<https://chat.example/chat/dev-2/>)"
        " / #elsewhere: **ok** @room"
    )
    assert text_convert("<#C1>", Names(users={}, rooms={"C1": ("dev-2", "dev")})) == "#dev"


def test_reaction_names_map_to_our_emoji_or_none() -> None:
    assert reaction_emoji("+1") == "👍"
    assert reaction_emoji("thumbsup::skin-tone-4") == "👍"
    assert reaction_emoji("tada") == "🎉"
    assert reaction_emoji("heart") == "❤️"
    assert reaction_emoji("partyparrot") is None  # a custom emoji
    assert reaction_emoji("flag-fr") is None  # an emoji, but not one a reaction may be
