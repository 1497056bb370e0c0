"""SQL errors are converted at the store's boundary."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from bot.errors import ConfigError, StoreUnavailableError
from bot.store import Store
from tests.store.conftest import add_account, new_case


def test_unreachable_postgres_is_store_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailableError):
        Store.open(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/none")


def test_locked_sqlite_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with Store.open(f"sqlite:///{path}", busy_timeout_seconds=0.2) as store:
        add_account(store, "alice")
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreUnavailableError, match="locked"):
                store.intake.create_with(new_case())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.intake.create_with(new_case()).id == 1


def test_bad_urls_are_config_errors() -> None:
    """A database URL is a setting (RECOUP_DATABASE_URL): a bad one is a ConfigError (exit 6)."""
    with pytest.raises(ConfigError):
        Store.open("not a url")
    with pytest.raises(ConfigError):
        Store.open("nosuchdb://x/y")
    with pytest.raises(ConfigError):  # a known dialect whose driver is not installed
        Store.open("mysql://user@127.0.0.1/recoup")
