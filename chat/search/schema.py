"""The full-text index of message bodies, per engine: its DDL and how it is built for
existing messages. Used by migration 0009_search and by the bench (which measures
writes with and without it). Knows SQL, not models; publishes nothing.

PostgreSQL: a GIN index on an expression (the configured language's tsvector and the
`simple` one, concatenated), built CONCURRENTLY so writes go on while it is built; no
column, so nothing to keep in step and nothing to backfill row by row.
SQLite: an external-content FTS5 table over chat_message, kept in step by triggers
(insert, edit of the body, delete), filled for existing rows in batches.
"""

from typing import Any

# Every name written into SQL here is a constant of this module (S608 below): no input.

MESSAGE_TABLE = "chat_message"
FTS_TABLE = "chat_message_fts"
PG_INDEX = "chat_message_search"
BACKFILL_BATCH = 20_000  # rows per transaction: each holds SQLite's write lock briefly
_STATE_TABLE = "chat_message_fts_backfill"


def pg_vector(config: str, column: str = "body") -> str:
    """The indexed expression; a query must spell it exactly so for the index to serve.
    `config` is a validated name (settings.CHAT_SEARCH_CONFIG), never user input."""
    return (
        f"(to_tsvector('{config}'::regconfig, {column})"
        f" || to_tsvector('simple'::regconfig, {column}))"
    )


def pg_create(cursor: Any, config: str) -> None:
    """Outside a transaction (CONCURRENTLY): writes are not blocked while it builds."""
    cursor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {PG_INDEX} ON {MESSAGE_TABLE}"
        f" USING GIN ({pg_vector(config)})"
    )
    # Statistics of the indexed expression at once: without them the planner guesses
    # that a word matches 1 % of the rows and may walk the table newest first, computing
    # each row's tsvector (seconds on a million rows) instead of asking the index.
    cursor.execute(f"ANALYZE {MESSAGE_TABLE}")


def pg_drop(cursor: Any) -> None:
    cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {PG_INDEX}")


def _sqlite_triggers(guard: str) -> list[str]:
    delete = (
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) VALUES ('delete', old.id, old.body);"  # noqa: S608
    )
    insert = f"INSERT INTO {FTS_TABLE}(rowid, body) VALUES (new.id, new.body);"  # noqa: S608
    when = f" WHEN {guard}" if guard else ""
    return [
        f"CREATE TRIGGER {FTS_TABLE}_ai AFTER INSERT ON {MESSAGE_TABLE} BEGIN {insert} END",
        f"CREATE TRIGGER {FTS_TABLE}_ad AFTER DELETE ON {MESSAGE_TABLE}{when} BEGIN {delete} END",
        f"CREATE TRIGGER {FTS_TABLE}_au AFTER UPDATE OF body ON {MESSAGE_TABLE}{when}"
        f" BEGIN {delete} {insert} END",
    ]


def _sqlite_drop_triggers(cursor: Any) -> None:
    for suffix in ("ai", "ad", "au"):
        cursor.execute(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{suffix}")


def sqlite_create(connection: Any, tokenizer: str) -> None:
    """Create the FTS5 table and its triggers, then index the rows already there in
    batches of BACKFILL_BATCH, each its own short transaction, so senders wait for
    one batch at most. Needs autocommit (a non-atomic migration).

    External content needs a 'delete' with the exact old text of an indexed row. Rows
    up to `top` are indexed by the batches; until their batch is done, an edit or a
    delete of one must not touch the index (the batch indexes what the row holds by
    then): the triggers' guard reads how far the batches have come."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {MESSAGE_TABLE}")  # noqa: S608
        top = int(cursor.fetchone()[0])
        with _atomic(connection):
            cursor.execute(
                f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(body, content='{MESSAGE_TABLE}',"
                f" content_rowid='id', tokenize='{tokenizer}')"
            )
            cursor.execute(f"CREATE TABLE {_STATE_TABLE} (done INTEGER NOT NULL)")
            cursor.execute(f"INSERT INTO {_STATE_TABLE} (done) VALUES (0)")  # noqa: S608
            guard = f"old.id > {top} OR old.id <= (SELECT done FROM {_STATE_TABLE})"  # noqa: S608
            for statement in _sqlite_triggers(guard):
                cursor.execute(statement)
        done = 0
        while done < top:
            upto = min(done + BACKFILL_BATCH, top)
            with _atomic(connection):
                cursor.execute(
                    f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT id, body"  # noqa: S608
                    f" FROM {MESSAGE_TABLE} WHERE id > %s AND id <= %s",
                    [done, upto],
                )
                cursor.execute(f"UPDATE {_STATE_TABLE} SET done = %s", [upto])  # noqa: S608
            done = upto
        with _atomic(connection):
            _sqlite_drop_triggers(cursor)
            for statement in _sqlite_triggers(""):
                cursor.execute(statement)
            cursor.execute(f"DROP TABLE {_STATE_TABLE}")


def sqlite_triggers_restore(connection: Any) -> None:
    """Put back the triggers and index again what changed without them. A migration
    that remakes chat_message on SQLite (AddField of a foreign key does: SQLite alters
    a table by copying it) drops the table's triggers with it, so new, edited and
    deleted messages would stop reaching the index: such a migration must be followed
    by one calling this (0012 does, after 0011). 'rebuild' reads every row again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [FTS_TABLE]
        )
        if cursor.fetchone() is None:  # never created (or dropped): nothing to restore
            return
        with _atomic(connection):
            _sqlite_drop_triggers(cursor)
            for statement in _sqlite_triggers(""):
                cursor.execute(statement)
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")  # noqa: S608


def sqlite_drop(connection: Any) -> None:
    with connection.cursor() as cursor, _atomic(connection):
        _sqlite_drop_triggers(cursor)
        cursor.execute(f"DROP TABLE IF EXISTS {_STATE_TABLE}")
        cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


def sqlite_tokenizer(config: str) -> str:
    # Porter stemming is English; for any other configuration words match as written.
    return "porter unicode61 remove_diacritics 2" if config == "english" else "unicode61"


def _atomic(connection: Any) -> Any:
    from django.db import transaction

    return transaction.atomic(using=connection.alias)
