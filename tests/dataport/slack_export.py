"""A Slack export written as Slack writes one (users.json, channels.json, groups.json,
dms.json, mpims.json, a folder of YYYY-MM-DD.json per conversation, files under
__uploads/<id>/<name>), for tests/dataport/test_slack_import.py."""

import json
import zipfile
from pathlib import Path
from typing import Any

DAY1 = 1614589200  # 2021-03-01 09:00 UTC
DAY2 = DAY1 + 86400
BIG_DAY_MESSAGES = 1000


def ts(seconds: int, micro: int = 0) -> str:
    return f"{seconds}.{micro:06d}"


USERS = [
    {"id": "U1", "name": "ann", "profile": {"email": "Ann@Example.com", "real_name": "Ann A"}},
    {"id": "U2", "name": "bob.b", "profile": {"email": "bob@example.com", "display_name": "Bob"}},
    {"id": "U3", "name": "li_lei", "real_name": "李雷", "profile": {"real_name": "李雷"}},
    {"id": "U4", "name": "gone", "deleted": True, "profile": {"email": "gone@example.com"}},
    {
        "id": "U5",
        "name": "deploybot",
        "is_bot": True,
        "profile": {"bot_id": "B01", "real_name": "Deploy"},
    },
]
CHANNELS = [
    {"id": "C1", "name": "general", "creator": "U1", "members": ["U1", "U2", "U3", "U4"],
     "topic": {"value": "Talk about *anything*"}, "purpose": {"value": ""}},
    {"id": "C2", "name": "old-stuff", "creator": "U2", "members": ["U2"], "is_archived": True,
     "topic": {"value": ""}, "purpose": {"value": "the old days"}},
]  # fmt: skip
GROUPS = [{"id": "G1", "name": "secret", "creator": "U1", "members": ["U1", "U2"]}]
DMS = [{"id": "D1", "members": ["U1", "U2"]}]
MPIMS = [{"id": "M1", "name": "mpdm-ann--bob.b--li_lei-1", "creator": "U1",
          "members": ["U1", "U2", "U3"]}]  # fmt: skip

ROOT = ts(DAY1, 100)
BROADCAST = "你好\uff0c世界 — ça va"  # non-Latin, with a full-width comma


def general_day1() -> list[dict[str, Any]]:
    t = DAY1
    return [
        {"type": "message", "subtype": "channel_join", "user": "U2", "ts": ts(t, 50),
         "text": "<@U2> has joined the channel"},
        {"type": "message", "user": "U1", "ts": ROOT, "thread_ts": ROOT, "reply_count": 2,
         "text": "Hello <@U2> &amp; <@U3>: see <#C2|old-stuff>, <https://example.com|the site>"
                 " and *this* _now_ <!here>",
         "reactions": [{"name": "+1", "users": ["U2", "U3"], "count": 2},
                       {"name": "partyparrot", "users": ["U2"], "count": 1}]},
        {"type": "message", "user": "U2", "ts": ts(t + 60), "thread_ts": ROOT, "text": "on it"},
        {"type": "message", "user": "U3", "ts": ts(t + 120), "thread_ts": ROOT,
         "subtype": "thread_broadcast", "text": BROADCAST},
        {"type": "message", "user": "U2", "ts": ts(t + 180), "text": "fixed typo",
         "edited": {"user": "U2", "ts": ts(t + 240)}},
        {"type": "message", "user": "U1", "ts": ts(t + 300), "text": "the plan",
         "files": [{"id": "F1", "name": "plan.txt", "title": "Plan", "mimetype": "text/plain"}]},
        {"type": "message", "user": "U2", "ts": ts(t + 360), "text": "",
         "files": [{"id": "F2", "name": "big.pdf", "mimetype": "application/pdf",
                    "url_private": "https://files.slack.com/files-pri/T1-F2/big.pdf"}]},
        {"type": "message", "subtype": "bot_message", "bot_id": "B01", "username": "deploybot",
         "ts": ts(t + 420), "text": "Deployed `v1.2` to prod"},
        {"type": "message", "subtype": "bot_message", "bot_id": "B99", "username": "ci",
         "ts": ts(t + 480), "text": "build green"},
        {"type": "message", "user": "U4", "ts": ts(t + 540), "text": "bye <!channel>"},
        {"type": "message", "subtype": "channel_leave", "user": "U4", "ts": ts(t + 600),
         "text": "<@U4> has left the channel"},
    ]  # fmt: skip


DAY1_KEPT = 9  # general_day1 without the join and leave


def general_day2() -> list[dict[str, Any]]:
    users = ["U1", "U2", "U3"]
    # Written out of order: the importer sorts a day by ts.
    return [
        {"type": "message", "user": users[i % 3], "ts": ts(DAY2 + i), "text": f"message {i}"}
        for i in reversed(range(BIG_DAY_MESSAGES))
    ]


def export_write(path: Path) -> Path:
    def put(zf: zipfile.ZipFile, name: str, value: Any) -> None:
        zf.writestr(name, json.dumps(value, ensure_ascii=False, indent=1))

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        put(zf, "users.json", USERS)
        put(zf, "channels.json", CHANNELS)
        put(zf, "groups.json", GROUPS)
        put(zf, "dms.json", DMS)
        put(zf, "mpims.json", MPIMS)
        put(zf, "general/2021-03-01.json", general_day1())
        put(zf, "general/2021-03-02.json", general_day2())
        put(
            zf,
            "old-stuff/2021-03-01.json",
            [{"type": "message", "user": "U2", "ts": ts(DAY1 + 5), "text": "archived talk"}],
        )
        put(
            zf,
            "secret/2021-03-01.json",
            [
                {"type": "message", "user": "U1", "ts": ts(DAY1 + 7), "text": "private plans"},
                {
                    "type": "message",
                    "user": "U2",
                    "ts": ts(DAY1 + 8),
                    "text": "agreed",
                    "reactions": [{"name": "thumbsup::skin-tone-2", "users": ["U1"]}],
                },
            ],
        )
        put(
            zf,
            "D1/2021-03-01.json",
            [
                {"type": "message", "user": "U2", "ts": ts(DAY1 + 9), "text": "psst, ann"},
                {"type": "message", "user": "U1", "ts": ts(DAY1 + 10), "text": "hi bob"},
            ],
        )
        put(
            zf,
            "mpdm-ann--bob.b--li_lei-1/2021-03-01.json",
            [{"type": "message", "user": "U3", "ts": ts(DAY1 + 11), "text": "三人"}],
        )
        zf.writestr("__uploads/F1/plan.txt", "step 1\nstep 2\n")
    return path
