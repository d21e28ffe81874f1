"""Django's PostgreSQL backend for the tests (tests/settings.py), emptying the tables
between transactional tests with DELETE instead of TRUNCATE. Test-only: never imported by
chatsite.settings, which the daphne processes a test starts run with."""

from collections.abc import Sequence
from typing import Any

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(
        self,
        style: Any,
        tables: Sequence[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        # One TRUNCATE of the ~30 tables costs 1 to 1.5 s on a busy machine (PostgreSQL
        # makes new files for every table), after every transactional test; DELETE of the
        # few rows a test leaves takes a few ms. Django's foreign keys are DEFERRABLE
        # INITIALLY DEFERRED and flush runs in one transaction, so order does not matter.
        if reset_sequences or allow_cascade or not tables:
            flush: list[str] = super().sql_flush(
                style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
            return flush
        delete_from = f"{style.SQL_KEYWORD('DELETE')} {style.SQL_KEYWORD('FROM')}"
        return [f"{delete_from} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
