"""`manage.py backup` / `restore` without live traffic (tests/dataport/test_backup_live.py
has that): an older backup brought forward by `migrate`, the refusals (a non-empty
target, a damaged archive, a newer pg_dump's dump), rotation, and the systemd units."""

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dataport.backup import postgres
from dataport.backup.archive import _member_ok, backup_rotate
from dataport.backup.manifest import FORMAT_VERSION, Manifest
from tests.observe import UNIT_FILE
from tests.servers import ROOT

TIMEOUT_SECONDS = 180
BACKUP_UNIT = UNIT_FILE.with_name("chat-backup.service")
BACKUP_TIMER = UNIT_FILE.with_name("chat-backup.timer")


def manage(db: Path, media: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "DJANGO_MEDIA_ROOT": str(media),
        "REDIS_URL": "",
    }
    env.pop("CHAT_MULTIPROCESS", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def insert_row(conn: sqlite3.Connection, table: str, **given: object) -> int:
    """A row with the given columns and a zero or empty value in every other required one
    (the caller gives the foreign keys: `migrate` checks them when it remakes a table)."""
    values = dict(given)
    for _cid, name, kind, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})"):
        if notnull and default is None and not pk and name not in values:
            lower = kind.lower()
            values[name] = 0 if "int" in lower or "real" in lower else ""
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
    return int(conn.execute(sql, list(values.values())).lastrowid or 0)


def applied(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT app, name FROM django_migrations").fetchall())


def test_an_older_backup_restores_refuses_damage_and_data_and_migrate_brings_it_forward(
    tmp_path: Path,
) -> None:
    old_db, old_media = tmp_path / "old.sqlite3", tmp_path / "old-media"
    (old_media / "avatars").mkdir(parents=True)
    (old_media / "avatars" / "a.png").write_bytes(b"\x89PNG not really")
    # An install of an earlier release: chat's migrations up to 0013 only.
    assert manage(old_db, old_media, "migrate", "-v0", "chat", "0013").returncode == 0
    with sqlite3.connect(old_db) as conn:
        conn.execute("UPDATE chat_room SET last_seq = 7 WHERE slug = 'lobby'")
        (room,) = conn.execute("SELECT id FROM chat_room WHERE slug = 'lobby'").fetchone()
        user = insert_row(conn, "auth_user", username="ann", password="!")
        message = insert_row(
            conn, "chat_message", room_id=room, author_id=user, seq=7, mentions="[]"
        )
        insert_row(conn, "chat_attachment", message_id=message, file="attachments/1/gone")
    archive = tmp_path / "old.tar"
    made = manage(old_db, old_media, "backup", str(archive))
    assert made.returncode == 0, made.stderr
    # A row names a file the media directory lacks: counted, named, and warned about.
    with tarfile.open(archive) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = Manifest.from_json(handle.read())
    assert (manifest.media_missing, manifest.media_missing_count) == (["attachments/1/gone"], 1)
    assert set(manifest.checksums) == {"database.sqlite3", "media/avatars/a.png"}
    assert manifest.counts["chat_attachment"] == 1
    assert "1 files named by the database are not in the media directory" in made.stderr
    assert archive.stat().st_mode & 0o077 == 0  # password hashes inside: owner only

    db, media = tmp_path / "new.sqlite3", tmp_path / "media"
    done = manage(db, media, "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert "next: `manage.py migrate` applies the" in done.stdout
    assert (media / "avatars" / "a.png").read_bytes() == b"\x89PNG not really"
    assert ("chat", "0014_audit_security") not in applied(db)
    assert manage(db, media, "migrate", "-v0").returncode == 0
    assert ("chat", "0014_audit_security") in applied(db)
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT last_seq FROM chat_room WHERE slug = 'lobby'").fetchone()
    assert row == (7,)

    refused = manage(db, media, "restore", str(archive))
    assert refused.returncode != 0
    assert "refusing to restore over existing data" in refused.stderr

    damaged = tmp_path / "damaged.tar"
    data = bytearray(archive.read_bytes())
    spot = data.index(b"PNG not really")
    data[spot] ^= 0xFF
    damaged.write_bytes(bytes(data))
    broken = manage(db, media, "restore", "--force", str(damaged))
    assert "checksum mismatch for media/avatars/a.png" in broken.stderr
    assert ("chat", "0014_audit_security") in applied(db), "a refused restore changed nothing"

    forced = manage(db, media, "restore", "--force", str(archive))
    assert forced.returncode == 0, forced.stderr
    assert ("chat", "0014_audit_security") not in applied(db)  # the backup's state again


@pytest.mark.parametrize(
    ("client", "server", "fatal"),
    [(15, 15, None), (14, 15, True), (16, 15, False)],
)
def test_pg_dump_version_against_the_server(client: int, server: int, fatal: bool | None) -> None:
    problem = postgres.dump_version_problem(client, server)
    assert (problem[0] if problem else None) is fatal
    if problem:
        assert f"pg_dump is version {client}" in problem[1]
        assert f"PostgreSQL {server}" in problem[1]


def test_pg_restore_older_than_the_dump_is_refused_with_the_fix() -> None:
    manifest = Manifest(
        engine="postgresql",
        created_at="2026-12-06T00:00:00+00:00",
        versions={"pg_dump": "16.1"},
        migrations=[],
        counts={},
        checksums={},
    )
    assert postgres.restore_version_problem(manifest, 16) is None
    problem = postgres.restore_version_problem(manifest, 15)
    assert problem is not None
    assert "postgresql-client-16" in problem


def test_manifest_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match=f"format {FORMAT_VERSION} only"):
        Manifest.from_json(b'{"format_version": 99}')


@pytest.mark.parametrize(
    ("name", "kind", "ok"),
    [
        ("database.sqlite3", tarfile.REGTYPE, True),
        ("media/attachments/1/x", tarfile.REGTYPE, True),
        ("media/../../etc/passwd", tarfile.REGTYPE, False),
        ("/etc/passwd", tarfile.REGTYPE, False),
        ("media/link", tarfile.SYMTYPE, False),
        ("database.pgdump", tarfile.REGTYPE, False),  # the other engine's
    ],
)
def test_only_the_members_a_backup_writes_are_restored(name: str, kind: bytes, ok: bool) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    assert _member_ok(member, "sqlite") is ok


def test_rotation_keeps_the_newest_archives_and_nothing_else(tmp_path: Path) -> None:
    names = [f"chat-backup-2026120{day}T033000Z.tar" for day in range(1, 6)]
    for name in [*names, "notes.txt", "chat-backup-20261201T033000Z.tar.partial"]:
        (tmp_path / name).write_text("x")
    deleted = backup_rotate(tmp_path, 2)
    assert sorted(p.name for p in deleted) == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[3:], "notes.txt", "chat-backup-20261201T033000Z.tar.partial"]
    )


def _lines(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def test_backup_units_pass_systemd_analyze_and_run_like_the_chat(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (.ci/run installs Debian's systemd)"
    service = BACKUP_UNIT.read_text()
    (tmp_path / BACKUP_UNIT.name).write_text(
        service.replace("/srv/chat/app/.venv/bin/python", sys.executable)
    )
    shutil.copy(BACKUP_TIMER, tmp_path / BACKUP_TIMER.name)
    done = subprocess.run(
        [analyze, "verify", "--man=no", BACKUP_UNIT.name, BACKUP_TIMER.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == "", done.stdout + done.stderr

    (exec_start,) = _lines(service, "ExecStart")
    argv = shlex.split(exec_start)
    assert argv[:3] == ["/srv/chat/app/.venv/bin/python", "manage.py", "backup"]
    assert argv[3] in _lines(service, "ReadWritePaths")
    assert argv[4:] == ["--keep", "7"]
    chat = UNIT_FILE.read_text()
    for key in ("EnvironmentFile", "WorkingDirectory", "User", "Group"):
        assert _lines(service, key) == _lines(chat, key), key
    assert _lines(service, "Type") == ["oneshot"]
    timer = BACKUP_TIMER.read_text()
    assert _lines(timer, "Unit") == [BACKUP_UNIT.name]
    assert _lines(timer, "OnCalendar") == ["*-*-* 03:30:00"]
    assert _lines(timer, "Persistent") == ["yes"] or _lines(timer, "Persistent") == ["true"]


@pytest.mark.django_db
def test_a_failed_backup_leaves_no_file_and_says_what_to_install(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump is PostgreSQL's")
    with pytest.raises(CommandError, match=r"pg_dump not found in .*--pg-bin"):
        call_command("backup", str(tmp_path / "nightly.tar"), pg_bin=str(tmp_path / "none"))
    assert list(tmp_path.iterdir()) == []
