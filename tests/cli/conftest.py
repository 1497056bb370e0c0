"""Fixtures of the CLI tests: the `recoup` app run in-process through Typer's CliRunner against
the session's sandbox (reset per test), its Dovecot, real Chromium and a fresh SQLite store
(`cli`), or — `cli_db`, `ann` — once on SQLite and once on a fresh PostgreSQL database.

`Cli.counts()` reads the row counts of the tables a command could write (accounts, cases,
case_events, evidence, attempts) straight from the database file; `Cli.case_folders()` lists the
evidence folders, so a test can show that bad input wrote nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app
from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.flows.conftest import png_bytes

TABLES = ("accounts", "cases", "case_events", "evidence", "attempts")


@dataclass
class Cli:
    """The CLI bound to one data folder and the session's sandbox."""

    sb: RunningSandbox
    mail: MailServer
    data: Path
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    database_url: str | None = None
    """RECOUP_DATABASE_URL when the store is not the data folder's SQLite file."""

    def __call__(self, *args: str, code: int | None = 0) -> Result:
        """Run `recoup ARGS`; assert the exit code when `code` is not None."""
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
        return result

    def json(self, *args: str, code: int | None = 0) -> Any:
        """Run with `--json` and parse stdout."""
        return json.loads(self(*args, "--json", code=code).stdout)

    def secret_env(self, name: str, email: str) -> None:
        """Put the scenario account's password and mailbox password into RECOUP_SECRET_<NAME>_*."""
        acc = next(a for a in self.sb.scenario.accounts if a.email == email)
        key = name.upper()
        self.monkeypatch.setenv(f"RECOUP_SECRET_{key}_PASSWORD", acc.password)
        self.monkeypatch.setenv(f"RECOUP_SECRET_{key}_MAILBOX", acc.mailbox_password)
        if acc.totp_secret:
            self.monkeypatch.setenv(f"RECOUP_SECRET_{key}_TOTP", acc.totp_secret)

    def add_account(self, name: str, email: str, *extra: str) -> None:
        self.secret_env(name, email)
        self("accounts", "add", name, "--email", email, *extra)

    def password(self, email: str) -> str:
        return next(a.password for a in self.sb.scenario.accounts if a.email == email)

    @property
    def db(self) -> Path:
        return self.data / "recoup.db"

    @property
    def db_url(self) -> str:
        """The store's URL (for `Store.open` in a test)."""
        return self.database_url or f"sqlite:///{self.db}"

    @property
    def db_env(self) -> dict[str, str]:
        """What a service subprocess needs besides `service_env` to use the same store."""
        return {"RECOUP_DATABASE_URL": self.database_url} if self.database_url else {}

    def counts(self) -> dict[str, int]:
        """Rows per table a command could write (0s while no database exists)."""
        if self.database_url is None:
            if not self.db.exists():
                return dict.fromkeys(TABLES, 0)
            with sqlite3.connect(self.db) as con:
                return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as con:
                present = set(sa.inspect(con).get_table_names())
                return {
                    t: con.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() if t in present else 0
                    for t in TABLES
                }
        finally:
            engine.dispose()

    def case_folders(self) -> list[Path]:
        evidence = self.data / "evidence"
        return sorted(evidence.glob("case-*")) if evidence.exists() else []

    def photo(self, name: str, size: int = 0) -> Path:
        path = self.tmp / name
        path.write_bytes(png_bytes(16, 12, pad_to=size))
        return path

    def submissions(self, order_id: str) -> int:
        return int(self.sb.admin.submissions(order_id)["count"])


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    """`recoup` sets the process umask to 0077 (bot/config.py); the next test gets its own back."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture
def cli(
    sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """`recoup` on a fresh data folder, configured for the (reset) session sandbox."""
    sandbox.admin.reset()
    data = tmp_path / "data"
    for key, value in {
        "RECOUP_DATA_DIR": str(data),
        "RECOUP_PORTAL_BASE_URL": sandbox.url,
        "RECOUP_PORTAL_LOGIN_BASE_URL": sandbox.login_base,
        "RECOUP_IMAP_HOST": mail_server.host,
        "RECOUP_IMAP_PORT": str(mail_server.imap_port),
        "RECOUP_IMAP_SSL": "false",
        "RECOUP_ACTION_TIMEOUT_MS": "5000",
        "RECOUP_NAVIGATION_TIMEOUT_MS": "10000",
        "RECOUP_CONFIRM_TIMEOUT_MS": "10000",
        "RECOUP_LOGIN_CODE_TIMEOUT_S": "30",
    }.items():
        monkeypatch.setenv(key, value)
    return Cli(sandbox, mail_server, data, tmp_path, monkeypatch)


def on_database(cli: Cli, db_url: str) -> Cli:
    """`cli` on the store at `db_url`: a PostgreSQL URL is set as RECOUP_DATABASE_URL; for
    SQLite the data folder's own file is used."""
    if not db_url.startswith("sqlite"):
        cli.database_url = db_url
        cli.monkeypatch.setenv("RECOUP_DATABASE_URL", db_url)
    return cli


@pytest.fixture
def cli_db(cli: Cli, db_url: str) -> Cli:
    """`cli`, once on SQLite (the data folder's file) and once on a fresh PostgreSQL database."""
    return on_database(cli, db_url)


@pytest.fixture
def ann(cli_db: Cli) -> Cli:
    """`cli_db` with the sandbox's buyer ann added and signed in (her order count known, so a
    refund's only possible fault is its input)."""
    cli_db.add_account("ann", "ann@buyer.test")
    cli_db("accounts", "login", "ann")
    return cli_db
