"""PostgreSQL: the snapshot is pg_dump's custom format, taken inside a REPEATABLE READ
transaction whose snapshot pg_dump shares (`--snapshot`), so the manifest's counts and
file list describe exactly the rows in the dump while the chat keeps writing. pg_dump
takes only ACCESS SHARE locks: sends, edits and deletes go on; only DDL (a `migrate`)
waits for it. Restores with pg_restore in one transaction."""

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.backends.postgresql.client import DatabaseClient

from dataport.backup import tables
from dataport.backup.manifest import Manifest

TOOL_TIMEOUT_SECONDS = 6 * 3600  # a bound, not a target: a large dump takes minutes
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


def _tool(name: str, pg_bin: str | None) -> str:
    path = str(Path(pg_bin) / name) if pg_bin else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        where = f"in {pg_bin}" if pg_bin else "on PATH"
        raise CommandError(
            f"{name} not found {where}: install the PostgreSQL client of the server's "
            "version (Debian: postgresql-client-<major>) or pass --pg-bin DIR."
        )
    return path


def tool_version(path: str) -> tuple[str, int]:
    """(the version text, its major number) of pg_dump or pg_restore."""
    out = subprocess.run(  # noqa: S603 - a path we resolved, fixed arguments
        [path, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    found = _VERSION.search(out)
    if found is None:
        raise CommandError(f"cannot read the version of {path}: {out.strip()!r}")
    return f"{found[1]}.{found[2] or 0}", int(found[1])


def server_version() -> tuple[str, int]:
    number = int(connection.pg_version)  # type: ignore[attr-defined]
    major, minor = divmod(number, 10000)  # 150020 -> 15, 20 (PostgreSQL 10 and later)
    return f"{major}.{minor}", major


def dump_version_problem(client_major: int, server_major: int) -> tuple[bool, str] | None:
    """(fatal, message) when pg_dump's major version is not the server's, else None.
    An older pg_dump refuses a newer server; a newer one works, but its dump needs a
    pg_restore at least as new."""
    if client_major == server_major:
        return None
    if client_major < server_major:
        return True, (
            f"pg_dump is version {client_major} but the server is PostgreSQL {server_major}: "
            f"pg_dump cannot dump a newer server. Install postgresql-client-{server_major} "
            f"and pass --pg-bin /usr/lib/postgresql/{server_major}/bin (Debian's layout)."
        )
    return False, (
        f"warning: pg_dump is version {client_major}, the server PostgreSQL {server_major}: "
        f"the backup is fine, but restoring it needs pg_restore {client_major} or newer. "
        f"Prefer the server's own version (--pg-bin /usr/lib/postgresql/{server_major}/bin)."
    )


def restore_version_problem(manifest: Manifest, restore_major: int) -> str | None:
    dumped = int(manifest.versions.get("pg_dump", "0").split(".")[0])
    if restore_major < dumped:
        return (
            f"this backup was written by pg_dump {dumped}; pg_restore {restore_major} cannot "
            f"read it. Install postgresql-client-{dumped} and pass --pg-bin DIR."
        )
    return None


def _connection_args(with_dbname_flag: bool) -> tuple[list[str], dict[str, str]]:
    """libpq flags and environment (password, SSL settings) for the configured database,
    as Django's dbshell builds them: the password goes in the environment, never argv."""
    args, env = DatabaseClient.settings_to_cmd_args_env(connection.settings_dict, [])
    dbname = str(connection.settings_dict["NAME"])
    flags = [str(arg) for arg in args[1:] if arg != dbname]
    flags += ["--dbname", dbname] if with_dbname_flag else [dbname]
    return flags, {**os.environ, **{k: str(v) for k, v in (env or {}).items()}}


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(  # noqa: S603 - our tool, our arguments, no shell
        argv, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise CommandError(f"{Path(argv[0]).name} failed ({done.returncode}):\n{done.stderr}")


class Snapshot:
    """Open while the backup copies the media: the transaction keeps the snapshot the
    dump was taken from, so the file check reads the same rows the dump holds."""

    def __init__(self, versions: dict[str, str], tables_: list[str]) -> None:
        self.versions = versions
        self.tables = tables_
        with connection.cursor() as cursor:
            self.counts = tables.table_counts(cursor, tables_)
            self.migrations = tables.applied_migrations(cursor, tables_)

    def referenced_files(self) -> Iterator[str]:
        with connection.chunked_cursor() as cursor:  # server-side: streamed
            yield from tables.referenced_files(cursor, self.tables)


@contextmanager
def snapshot(out: Path, pg_bin: str | None, warn: Callable[[str], None]) -> Iterator[Snapshot]:
    pg_dump = _tool("pg_dump", pg_bin)
    client_text, client_major = tool_version(pg_dump)
    server_text, server_major = server_version()
    problem = dump_version_problem(client_major, server_major)
    if problem is not None:
        fatal, message = problem
        if fatal:
            raise CommandError(message)
        warn(message)
    flags, env = _connection_args(with_dbname_flag=False)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot_id = str(cursor.fetchone()[0])
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            names = [str(row[0]) for row in cursor.fetchall()]
        _run(
            [
                pg_dump,
                "--format=custom",
                "--no-password",
                f"--snapshot={snapshot_id}",
                f"--file={out}",
                *flags,
            ],
            env,
        )
        versions = {"postgresql": server_text, "pg_dump": client_text}
        yield Snapshot(versions, names)


def present_tables() -> list[str]:
    with connection.cursor() as cursor:
        return sorted(connection.introspection.table_names(cursor))


def counts_now() -> dict[str, int]:
    with connection.cursor() as cursor:
        return tables.table_counts(cursor, present_tables())


def wipe() -> None:
    """For --force: drop the schema with everything in it and make it again empty (the
    database keeps its owner and settings)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = tables._quoted(str(cursor.fetchone()[0]))
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")
        cursor.execute(f"CREATE SCHEMA {schema}")
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO PUBLIC")


def load(dump: Path, manifest: Manifest, pg_bin: str | None) -> None:
    pg_restore = _tool("pg_restore", pg_bin)
    _text, restore_major = tool_version(pg_restore)
    problem = restore_version_problem(manifest, restore_major)
    if problem is not None:
        raise CommandError(problem)
    flags, env = _connection_args(with_dbname_flag=True)
    connection.close()  # no session of ours holds anything while pg_restore runs
    # One transaction: a failed restore leaves the database as empty as it was. No
    # owners or grants: the restoring role owns everything, whichever role dumped it.
    _run(
        [
            pg_restore,
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--no-password",
            *flags,
            str(dump),
        ],
        env,
    )
    # pg_restore brings no planner statistics; without them the first queries on large
    # tables are planned blind until autovacuum gets round to them.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
