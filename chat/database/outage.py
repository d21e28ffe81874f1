"""A database away for a moment (a PostgreSQL restart, a failover): how a failure is told
apart from the others, the one error clients get for it (`unavailable`, retryable), and
what a thread does so that its connection recovers without a process restart. Logging
says so once per outage, never a traceback per try. No queries here.

Connections are Django's, one per thread: a failed call leaves `errors_occurred` set and
close_old_connections (run around every call) drops the connection, so the next call
connects again. Two things are added: a connection made before an outage seen by any
thread of the process is dropped before its next use (it would fail once more), and a
call that is safe to run twice runs once more when it failed on such a stale connection.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from chat.errors import ChatError
from chat.protocol.codes import ErrorCode

T = TypeVar("T")

UNAVAILABLE_DETAIL = "The database is unavailable for a moment: nothing was saved. Send it again."

# Failures of the connection itself (refused, reset, closed by a restart, a timeout).
# Django wraps psycopg's in these; IntegrityError, DataError and ProgrammingError are
# the query's fault and stay what they are.
CONNECTION_ERRORS = (OperationalError, InterfaceError)

_MADE_AT = "_chat_made_at"  # set on each connection wrapper when it connects
_outage_seen_at = 0.0  # time.monotonic() of the last failure any thread saw


class DatabaseUnavailable(ChatError):
    """The database did not answer: nothing of the call was committed (or, for a call
    run twice, what was committed is found again by its idempotency). Clients resend."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, UNAVAILABLE_DETAIL)


def is_outage(error: BaseException) -> bool:
    return isinstance(error, (*CONNECTION_ERRORS, DatabaseUnavailable))


def seen() -> None:
    """A thread saw the database fail: every thread's older connection is dropped before
    its next use (thread-safe enough: a float written whole)."""
    global _outage_seen_at
    _outage_seen_at = time.monotonic()


def _stamp(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    setattr(connection, _MADE_AT, time.monotonic())


connection_created.connect(_stamp, dispatch_uid="chat.database.outage")


def drop_if_stale(db: BaseDatabaseWrapper | None = None) -> None:
    """Close this thread's connection when it was made before the last outage seen (a
    compare per call; a connect after each outage)."""
    db = db or connections[DEFAULT_DB_ALIAS]
    if (
        db.connection is not None
        and getattr(db, _MADE_AT, 0.0) < _outage_seen_at
        and not db.in_atomic_block
    ):
        db.close()


def call(function: Callable[..., T], kwargs: dict[str, Any], *, twice: bool) -> T:
    """Run `function(**kwargs)` on this thread's connection; a connection failure raises
    DatabaseUnavailable. With `twice` (a read, or the idempotent batch of sends), a
    failure on a connection this call did not make (one the database dropped while it
    sat idle, e.g. across a restart nobody saw) is tried once more on a new one."""
    db = connections[DEFAULT_DB_ALIAS]  # this thread's (the proxy looks it up per use)
    drop_if_stale(db)
    reused = db.connection is not None
    try:
        return function(**kwargs)
    except CONNECTION_ERRORS as error:
        seen()
        if not (twice and reused) or db.in_atomic_block:
            raise DatabaseUnavailable() from error
        db.close()
    try:
        return function(**kwargs)
    except CONNECTION_ERRORS as error:
        raise DatabaseUnavailable() from error


class OutageLog:
    """The log of one periodic task or path: one warning when the database first fails
    it, one line when it works again; any other failure is logged in full each time."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.is_down = False
        self._lock = threading.Lock()

    def failed(self, error: BaseException, message: str = "") -> None:
        """Log `error` (call it in the except block); `message` for any other failure."""
        if not is_outage(error):
            self.logger.error(message or f"{self.what} failed", exc_info=error)
            return
        cause = error.__cause__ if isinstance(error, DatabaseUnavailable) else error
        self.down(type(cause).__name__)

    def down(self, reason: str) -> None:
        """The database failed this task (`reason`: the error's type name)."""
        seen()
        with self._lock:
            first, self.is_down = not self.is_down, True
        if first:
            self.logger.warning(
                "%s: database unavailable (%s); retrying quietly until it answers",
                self.what,
                reason,
            )

    def ok(self) -> None:
        """The task worked: log the recovery once after an outage."""
        if self.is_down:
            with self._lock:
                was, self.is_down = self.is_down, False
            if was:
                self.logger.warning("%s: database answers again", self.what)
