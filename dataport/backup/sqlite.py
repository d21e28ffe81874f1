"""SQLite: the snapshot is the online backup API (sqlite3.Connection.backup) from a
connection of our own, in one step: one read transaction, which in WAL mode (the
settings' journal mode) never blocks the chat's writers. The copy is switched to a
rollback journal so the archive holds one self-contained file. Restores with the same
API into a new file."""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from django.core.management.base import CommandError
from django.db import connection

from dataport.backup import tables
from dataport.backup.manifest import Manifest

BUSY_TIMEOUT_SECONDS = 20  # as the settings' "timeout": waits out a checkpoint


def _path() -> Path:
    return Path(str(connection.settings_dict["NAME"]))


def _tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return sorted(str(name) for (name,) in rows)


class Snapshot:
    """The copy itself answers what the snapshot holds, so the manifest describes the
    file in the archive, not the live database a moment later."""

    def __init__(self, copy: sqlite3.Connection) -> None:
        self.copy = copy
        self.tables = _tables(copy)
        cursor = copy.cursor()
        self.counts = tables.table_counts(cursor, self.tables)
        self.migrations = tables.applied_migrations(cursor, self.tables)
        self.versions = {"sqlite": sqlite3.sqlite_version}

    def referenced_files(self) -> Iterator[str]:
        yield from tables.referenced_files(self.copy.cursor(), self.tables)


@contextmanager
def snapshot(out: Path, pg_bin: str | None, warn: Callable[[str], None]) -> Iterator[Snapshot]:
    del pg_bin, warn  # PostgreSQL's concerns
    source = _path()
    if not source.is_file():
        raise CommandError(f"no SQLite database at {source}")
    with (
        closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_SECONDS)) as live,
        closing(sqlite3.connect(out)) as copy,
    ):
        live.backup(copy)  # pages=-1: the whole database in one step, one snapshot
        copy.execute("PRAGMA journal_mode=DELETE")
        yield Snapshot(copy)


def present_tables() -> list[str]:
    path = _path()
    if not path.exists() or path.stat().st_size == 0:
        return []
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)) as db:
        return _tables(db)


def counts_now() -> dict[str, int]:
    with closing(sqlite3.connect(_path(), timeout=BUSY_TIMEOUT_SECONDS)) as db:
        return tables.table_counts(db.cursor(), _tables(db))


def wipe() -> None:
    """For --force (the chat is stopped, as the restore drill says): the database file
    and its WAL and shared-memory files go; the restore writes a new one."""
    connection.close()
    path = _path()
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        stale.unlink(missing_ok=True)


def load(dump: Path, manifest: Manifest, pg_bin: str | None) -> None:
    del manifest, pg_bin
    with closing(sqlite3.connect(dump)) as source:
        (verdict,) = source.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise CommandError(f"the backup's database fails SQLite's integrity check: {verdict}")
        connection.close()
        target = _path()
        target.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT_SECONDS)) as db:
            source.backup(db)
