"""Alembic environment: runs on the connection `bot.store.migrate` passes in.

Run from the command line it falls back to `sqlalchemy.url` from the Alembic config.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.store._engine import make_engine
from bot.store._tables import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if _connection is not None:
    _run(_connection)
else:
    _url = context.config.get_main_option("sqlalchemy.url")
    if not _url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    with make_engine(_url).begin() as _conn:
        _run(_conn)
