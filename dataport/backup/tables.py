"""What a snapshot holds, read with plain SQL on any DB-API cursor of either engine:
rows per table, the applied migrations, and the file names its rows point to. The same
reads on the restored database prove the restore (its counts equal the manifest's)."""

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.db import models

FETCH_ROWS = 2000  # file names read per round trip


def _quoted(name: str) -> str:
    # Names come from the database's own catalogue or the models, never from input;
    # quoting keeps any of them (upper case, a keyword) a single identifier.
    return '"' + name.replace('"', '""') + '"'


def table_counts(cursor: Any, tables: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in sorted(tables):
        cursor.execute(f"SELECT COUNT(*) FROM {_quoted(table)}")  # noqa: S608
        counts[table] = int(cursor.fetchone()[0])
    return counts


def applied_migrations(cursor: Any, tables: list[str]) -> list[list[str]]:
    if "django_migrations" not in tables:
        return []
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
    return [[str(app), str(name)] for app, name in cursor.fetchall()]


def file_columns() -> list[tuple[str, str]]:
    """(table, column) of every FileField (ImageField included) of every installed
    model: uploads kept in MEDIA_ROOT whose names the rows hold."""
    found = []
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, models.FileField):
                found.append((model._meta.db_table, str(model_field.column)))
    return sorted(found)


def referenced_files(cursor: Any, tables: list[str]) -> Iterator[str]:
    """Every file name the snapshot's rows hold (streamed: pass a server-side cursor on
    PostgreSQL, as millions of attachments must not be held in memory)."""
    for table, column in file_columns():
        if table not in tables:
            continue
        cursor.execute(
            f"SELECT {_quoted(column)} FROM {_quoted(table)}"  # noqa: S608
            f" WHERE {_quoted(column)} <> ''"
        )
        while rows := cursor.fetchmany(FETCH_ROWS):
            for (name,) in rows:
                yield str(name)
