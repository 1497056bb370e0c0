"""Every settings, data-folder, secrets-file and database-URL problem ends with ONE line on
stderr (no traceback) and exit 6, and with `--json` one JSON document naming the error
(issue 13, finding 8). These need no sandbox: the command stops before any portal work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment (no RECOUP_* variables) in an empty folder (for `.env`)."""
    for key in list(os.environ):
        if key.startswith("RECOUP_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECOUP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _config_error(*args: str, says: str) -> None:
    """`recoup ARGS` exits 6 with one line (and one JSON document with --json)."""
    human = _run(*args)
    assert human.exception is None or isinstance(human.exception, SystemExit), human.exception
    assert human.exit_code == 6, human.output
    lines = human.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in human.output, human.output
    assert says in lines[0], lines
    machine = _run(*args, "--json")
    assert machine.exit_code == 6, machine.output
    error = json.loads(machine.stdout)
    assert error["exit_code"] == 6 and says in error["message"], error


def test_data_dir_that_is_a_file(here: Path) -> None:
    (here / "afile").write_text("x")
    _config_error("--data-dir", str(here / "afile"), "cases", "list", says="data folder")
    demo = _run("--data-dir", str(here / "afile"), "demo", "--cases", "1")
    assert demo.exit_code == 6 and "Traceback" not in demo.output, demo.output
    said = demo.stderr.strip().splitlines()
    assert said == [f"error: the data folder {here / 'afile'} cannot be used: File exists"], said


def test_data_dir_that_cannot_be_written(here: Path) -> None:
    frozen = here / "frozen"
    frozen.mkdir(mode=0o700)
    if subprocess.run(["chattr", "+i", str(frozen)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not available (root ignores plain read-only modes)")
    try:
        _config_error("--data-dir", str(frozen), "cases", "list", says="data folder")
    finally:
        subprocess.run(["chattr", "-i", str(frozen)], check=True)


def test_env_file_not_utf8(here: Path) -> None:
    (here / ".env").write_bytes(b"RECOUP_PORTAL=ali\xff\xfeexpress\n")
    _config_error("cases", "list", says="not valid UTF-8")


def test_env_file_with_a_bad_list(here: Path) -> None:
    (here / ".env").write_text("RECOUP_MAIL_POLL_FOLDERS=INBOX,Archive\n")
    _config_error("cases", "list", says="mail_poll_folders")


def test_secrets_file_not_utf8(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = here / "secrets.env"
    secrets.write_bytes(b"ANN_PASSWORD=p\xe4ss\xff\n")
    secrets.chmod(0o600)  # only the encoding is wrong here (an open mode adds its own warning line)
    monkeypatch.setenv("RECOUP_SECRETS_FILE", str(secrets))
    _config_error("cases", "list", says="secrets file")


@pytest.mark.parametrize("url", ["notaurl", "mysql://user@127.0.0.1/recoup", "nosuchdb://x/y"])
def test_database_url_that_cannot_be_used(here: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("RECOUP_DATABASE_URL", url)
    _config_error("cases", "list", says="database URL")


def test_run_refuses_a_webhook_url_without_secret(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    # A real process: on main `recoup run` started anyway (and logged a traceback every tick).
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 6, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "RECOUP_WEBHOOK_SECRET" in lines[0], lines
    assert not (here / "data").exists()  # refused before the data folder was made
    _config_error("cases", "list", says="RECOUP_WEBHOOK_SECRET")
