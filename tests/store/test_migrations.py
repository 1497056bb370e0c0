"""Migrations: empty database → head, idempotent, matching the models, append-only events."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import exc, inspect, text

from bot.store import Store, current_revision, head_revision, migrate
from bot.store._engine import make_engine
from bot.store._migrate import alembic_config
from bot.store._tables import Base

TABLES = {
    "accounts",
    "cases",
    "attempts",
    "case_events",
    "evidence",
    "mail_cursors",
    "processed_messages",
    "outbox",
}


def test_migrate_empty_database_to_head(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        migrate(db_url)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES
        migrate(db_url)  # a second run changes nothing
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate(db_url)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_sqlite_pragmas(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/p.db"
    with Store.open(url) as store, store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_case_events_are_append_only(store: Store) -> None:
    from tests.store.conftest import new_case

    case = store.intake.create_with(new_case())
    for statement in (
        "UPDATE case_events SET kind = 'forged'",
        "DELETE FROM case_events",
    ):
        with pytest.raises(exc.DBAPIError, match="append-only"), store.engine.begin() as connection:
            connection.execute(text(statement))
    assert [e.kind for e in store.cases.history(case.id)] == ["created"]
