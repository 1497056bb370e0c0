"""Engines and the error boundary between SQLAlchemy and Recoup.

SQLite connections get WAL, foreign keys and a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: it takes the write lock up front, so a transaction that reads and then
writes never fails on a stale snapshot, and the conditional claim updates run one at a time.
PostgreSQL (``postgresql+psycopg2://``) runs at READ COMMITTED with row locks
(``FOR UPDATE SKIP LOCKED``) where the store needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

from bot.errors import ConfigError, InputError, StoreUnavailableError


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


@contextmanager
def sql_errors(doing: str) -> Iterator[None]:
    """Convert SQLAlchemy errors raised inside the block, once, into Recoup errors.

    Unreachable, locked or dropped databases → :class:`StoreUnavailableError`; a constraint
    violation nobody handled closer to its cause → :class:`InputError`. Recoup errors pass
    through unchanged. Statement parameters never appear in the messages.
    """
    try:
        yield
    except exc.IntegrityError as error:
        raise InputError(f"refused by the database while {doing}: {_first_line(error)}") from error
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
        raise StoreUnavailableError(
            f"database unavailable while {doing}: {_first_line(error)}", doing=doing
        ) from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise StoreUnavailableError(
                f"database connection lost while {doing}: {_first_line(error)}", doing=doing
            ) from error
        raise


def is_sqlite(engine: Engine) -> bool:
    """True for a SQLite engine."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, busy_timeout_seconds: float = 30.0) -> Engine:
    """Create an engine for `url` (no connection is opened yet).

    Raises :class:`ConfigError` (a settings problem) for a malformed URL, an unknown dialect or a
    driver that is not installed; an unreachable
    database shows up as :class:`StoreUnavailableError` on first use (inside `sql_errors`).
    """
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise ConfigError(f"RECOUP_DATABASE_URL is not a database URL: {_first_line(error)}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": busy_timeout_seconds})
        timeout_ms = int(busy_timeout_seconds * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # Hand transaction control to the "begin" hook below (pysqlite's own BEGIN is
            # deferred and would let a read-then-write transaction hit SQLITE_BUSY_SNAPSHOT).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
                cursor.execute("PRAGMA synchronous=NORMAL")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
        raise ConfigError(f"unsupported database URL: {_first_line(error)}") from None
