"""Bring a database to the newest schema with the Alembic migrations in `migrations/`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from bot.store._engine import make_engine, sql_errors

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x7265636F7570  # "recoup": serialises concurrent migrations on PostgreSQL


def alembic_config() -> Config:
    """An Alembic config pointing at Recoup's migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    with sql_errors("reading the schema revision"), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate_engine(engine: Engine) -> None:
    """Upgrade the database behind `engine` to head, in one transaction.

    Safe to call from several processes at once (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
    advisory lock). Raises :class:`bot.errors.StoreUnavailableError` when unreachable.
    """
    config = alembic_config()
    with sql_errors("migrating the schema"), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def migrate(url: str) -> None:
    """Upgrade the database at `url` to head (creating the schema on an empty database)."""
    engine = make_engine(url)
    try:
        migrate_engine(engine)
    finally:
        engine.dispose()
