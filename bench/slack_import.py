"""The Slack import at scale (issue #27's bench):

    .venv/bin/python -m bench.slack_import [--messages 1000000] [--pg-db NAME]
        [--admin-url postgres://postgres@127.0.0.1:5432/postgres] [--keep]

Writes a Slack export of --messages messages (streamed into the zip: 20 public
channels, 2 private ones, 40 DMs, 80 people, 2 bots; threads of 3 replies on every 25th
message, reactions on every 10th, an edit on every 20th, mentions and mrkdwn on every
7th; days of up to 1,000 messages per conversation), creates the PostgreSQL database
--pg-db (dropped first and at the end unless --keep), migrates it, and times
`manage.py slack_import` as its own process, sampling its RSS every 0.2 s (peak: the
kernel's VmHWM). Prints messages/s and peak RSS, writes JSON to bench/results/.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.config import RESULTS_DIR, ROOT
from bench.preparing import drop_bench_database

PEOPLE = 80
PUBLIC, PRIVATE, DMS = 20, 2, 40
DAY_MESSAGES = 1000
THREAD_EVERY, REPLIES = 25, 3
START = 1_600_000_000
SAMPLE_S = 0.2


def _conversations() -> list[tuple[str, str, list[str]]]:
    """(kind, folder, members)."""
    people = [f"U{i:05d}" for i in range(PEOPLE)]
    found = [("public", f"channel-{i}", people) for i in range(PUBLIC)]
    found += [("private", f"private-{i}", people[: PEOPLE // 4]) for i in range(PRIVATE)]
    found += [
        ("dm", f"D{i:05d}", [people[i % PEOPLE], people[(i + 1) % PEOPLE]]) for i in range(DMS)
    ]
    return found


def _message(n: int, t: int, members: list[str], root: str | None) -> dict[str, Any]:
    user = members[n % len(members)]
    text = f"message {n} about the plan"
    if n % 7 == 0:
        other = members[(n + 1) % len(members)]
        text = f"*note* for <@{other}>: see <https://example.com/{n}|this> &amp; _more_"
    message: dict[str, Any] = {
        "type": "message",
        "user": user,
        "ts": f"{t}.{n % 1000:06d}",
        "text": text,
    }
    if root is not None:
        message["thread_ts"] = root
    elif n % THREAD_EVERY == 0:
        message["thread_ts"] = message["ts"]
        message["reply_count"] = REPLIES
    if n % 10 == 0:
        message["reactions"] = [{"name": "+1", "users": members[:3], "count": 3}]
    if n % 20 == 0:
        message["edited"] = {"user": user, "ts": f"{t + 30}.000000"}
    if n % 500 == 0:
        message["subtype"] = "bot_message"
        message["bot_id"] = "B0000" + str(n % 2)
        message["username"] = "deploy" if n % 2 else "ci"
        del message["user"]
    return message


def export_write(path: Path, messages: int) -> int:
    """The export, streamed message by message into the zip; returns the count."""
    conversations = _conversations()
    written = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("users.json", json.dumps(
            [{"id": f"U{i:05d}", "name": f"person{i}", "profile": {"email": f"p{i}@example.com",
              "real_name": f"Person {i}"}} for i in range(PEOPLE)]
        ))  # fmt: skip
        lists: dict[str, list[dict[str, Any]]] = {"channels": [], "groups": [], "dms": []}
        for index, (kind, folder, members) in enumerate(conversations):
            if kind == "dm":
                lists["dms"].append({"id": folder, "members": members})
            else:
                lists["channels" if kind == "public" else "groups"].append(
                    {
                        "id": f"C{index:05d}",
                        "name": folder,
                        "creator": members[0],
                        "members": members,
                    }
                )
        for name, items in lists.items():
            zf.writestr(f"{name}.json", json.dumps(items))
        share = messages // len(conversations)
        for index, (_, folder, members) in enumerate(conversations):
            count = share + (messages - share * len(conversations) if index == 0 else 0)
            day, n = 0, 0
            while n < count:
                t = START + day * 86400
                with zf.open(
                    f"{folder}/{time.strftime('%Y-%m-%d', time.gmtime(t))}.json", "w"
                ) as f:
                    f.write(b"[")
                    root: str | None = None
                    left = 0
                    for i in range(min(DAY_MESSAGES, count - n)):
                        message = _message(n, t + i * 60, members, root if left else None)
                        left = left - 1 if left else (REPLIES if "reply_count" in message else 0)
                        root = message["ts"] if "reply_count" in message else root
                        f.write((b"," if i else b"") + json.dumps(message).encode())
                        n += 1
                    f.write(b"]")
                day += 1
            written += count
    return written


def _rss_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--pg-db", default="slack_bench")
    parser.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    import psycopg

    base = args.admin_url.rsplit("/", 1)[0]
    env = {
        **os.environ,
        "DATABASE_URL": f"{base}/{args.pg_db}",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_DEBUG": "0",
        "REDIS_URL": "",
        "CHAT_SITE_URL": "https://chat.example",
    }
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.zip"
        started = time.monotonic()
        count = export_write(export, args.messages)
        print(f"export: {count} messages, {export.stat().st_size / 1e6:.1f} MB zipped,"
              f" written in {time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
        drop_bench_database(args.admin_url, args.pg_db)
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {args.pg_db}")
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)  # noqa: S603
        started = time.monotonic()
        env["DJANGO_MEDIA_ROOT"] = tmp
        process = subprocess.Popen(  # noqa: S603 - our own manage.py
            [*manage, "slack_import", str(export)], env=env, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        peak, cpu = 0, 0.0
        while process.poll() is None:
            peak = max(peak, _rss_kb(process.pid, "VmHWM"), _rss_kb(process.pid, "VmRSS"))
            cpu = max(cpu, _cpu_s(process.pid))  # the last sample before it exits
            time.sleep(SAMPLE_S)
        seconds = time.monotonic() - started
        summary = process.stdout.read() if process.stdout else ""
        if process.returncode:
            raise SystemExit(f"slack_import failed ({process.returncode}):\n{summary}")
    if not args.keep:
        drop_bench_database(args.admin_url, args.pg_db)
    result = {
        "messages": count,
        "seconds": round(seconds, 1),
        "messages_per_s": round(count / seconds),
        "peak_rss_mb": round(peak / 1024, 1),
        "import_cpu_s": round(cpu, 1),
        "load_average": os.getloadavg(),
        "summary": summary.splitlines(),
    }
    print(summary)
    print(f"{count} messages in {seconds:.0f} s: {count / seconds:.0f} messages/s,"
          f" peak RSS {peak / 1024:.0f} MB; the import's own CPU {cpu:.0f} s;"
          f" load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"slack_import-{count}.json"
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
