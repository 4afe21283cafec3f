"""The ledger's connection: engines, transactions, migrations and the lock-conflict policy.

SQLite (WAL mode) by default, PostgreSQL by URL when several machines share one ledger. Writers
never lose a result and never create two attempts with one number: each write takes a lock (the
whole database on SQLite via `BEGIN IMMEDIATE`, the clip's row on PostgreSQL via
`SELECT … FOR UPDATE`) and a unique constraint backs it up.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from manifests.errors import LedgerError, TransientLedgerError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE_TRIES = 8  # lock conflicts (deadlock, busy) are retried this often before giving up
# A server that restarts or a network that drops says one of these (PostgreSQL, psycopg).
_CONNECTION_LOST = ("could not connect", "connection refused", "server closed the connection",
                    "terminating connection", "connection timed out")
T = TypeVar("T")


def safe_url(url: str) -> str:
    """A database URL with any password masked, for logs, displays and error messages."""
    return make_url(url).render_as_string(hide_password=True)


class LedgerStore:
    """The ledger's engine and transactions; the query methods live in the modules beside it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Brings the schema to the newest Alembic revision; safe to call from several processes."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except DBAPIError as e:
            raise LedgerError(f"cannot migrate the ledger at {self.safe_url}: {e.orig}") from e

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for logs and error messages."""
        return safe_url(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction on the ledger (for the ledger package only): commits or rolls back.

        Raises:
            TransientLedgerError: the database cannot be reached or stays locked.
        """
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as e:
            raise _error(e)(f"the ledger at {self.safe_url} failed: {e.orig}") from e

    def _write(self, work: Callable[[Session], T]) -> T:
        """Runs `work(session)` in one transaction; retries lock conflicts with jittered backoff.

        Raises:
            TransientLedgerError: the conflict or outage outlasted every try; a later try may pass.
            LedgerError: the write itself is wrong (a constraint it breaks that is no conflict).
        """
        for tries in range(1, _WRITE_TRIES + 1):
            try:
                with self._sessions() as session, session.begin():
                    return work(session)
            except (OperationalError, IntegrityError) as e:
                if tries < _WRITE_TRIES and _is_lock_conflict(e):
                    log.debug("ledger write conflict (try %d): %s", tries, e.orig)
                    time.sleep(min(2.0, 0.02 * 2**tries) * random.uniform(0.5, 1.5))
                    continue
                raise _error(e)(f"ledger write failed at {self.safe_url}: {e.orig}") from e
        raise AssertionError("unreachable: the loop returns or raises on its last try")


def utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything Cradle writes is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _error(error: DBAPIError) -> type[LedgerError]:
    """Lock conflicts and lost connections pass; anything else is for a person to fix."""
    text = str(error.orig).lower()
    lost = error.connection_invalidated or any(word in text for word in _CONNECTION_LOST)
    return TransientLedgerError if lost or _is_lock_conflict(error) else LedgerError


def _is_lock_conflict(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    conflict_words = ("locked", "busy", "deadlock", "could not serialize", "uq_stage_results")
    return any(word in text for word in conflict_words)


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that `begin` below can take the write lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # Taking the write lock up front turns read-then-write races into a queue.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
