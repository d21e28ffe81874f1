"""chat/database/outage.py on the suite's PostgreSQL: a connection the server dropped is
replaced without a process restart, a read meeting one is run once more, a write is
not, and a task's log says an outage once. (The whole path, with a real restart under
two daphnes, is tests/failover/test_postgres_restart.py.)"""

import logging
from collections.abc import Iterator

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection

from chat.database import outage
from chat.protocol.codes import ErrorCode
from tests.conftest import database_url

# transactional_db rather than the django_db marker: PostgreSQL only (a server-side
# backend to terminate), so the SQLite pass does not pick these up.


@pytest.fixture
def pg(transactional_db: None) -> Iterator[None]:
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    yield
    connection.close()


def terminate_my_backend() -> None:
    """What a restart does to an idle connection: the server ends its session."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def select_one() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    return int(one)


def test_a_read_on_a_connection_the_server_dropped_is_run_again_on_a_new_one(pg: None) -> None:
    terminate_my_backend()
    assert outage.call(select_one, {}, twice=True) == 1


def test_a_write_on_a_dropped_connection_is_refused_unavailable_and_the_next_one_reconnects(
    pg: None,
) -> None:
    terminate_my_backend()
    with pytest.raises(outage.DatabaseUnavailable) as refused:
        outage.call(select_one, {}, twice=False)
    assert refused.value.code == ErrorCode.UNAVAILABLE
    close_old_connections()  # what runs after every call on the database thread
    assert outage.call(select_one, {}, twice=False) == 1


def test_a_connection_older_than_an_outage_seen_elsewhere_is_dropped_before_use(pg: None) -> None:
    connection.ensure_connection()
    outage.seen()  # another thread met the database down
    outage.drop_if_stale()
    assert connection.connection is None
    connection.ensure_connection()  # made after the outage: kept
    outage.drop_if_stale()
    assert connection.connection is not None


QUIET = "retrying quietly until it answers"


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    log = outage.OutageLog(logging.getLogger("test.outage"), "delivery sync")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(5):
            log.failed(OperationalError("connection refused"))
        log.ok()
        log.ok()
        log.failed(ValueError("a bug, not an outage"), "delivery sync failed")
        log.failed(ValueError("a bug, not an outage"), "delivery sync failed")
    lines = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert lines == [
        ("WARNING", f"delivery sync: database unavailable (OperationalError); {QUIET}", False),
        ("WARNING", "delivery sync: database answers again", False),
        ("ERROR", "delivery sync failed", True),
        ("ERROR", "delivery sync failed", True),
    ]
