"""`recoup doctor` and the set-up help around it, through the real stack (sandbox, Dovecot,
Chromium, SQLite): every check passes when Recoup is pointed at the sandbox with the block the
sandbox banner prints; a missing secret exits 6 naming account and variable (never a value);
TLS against the plain sandbox Dovecot gives the RECOUP_IMAP_SSL hint (doctor and the login-code
wait alike); a closed portal port exits 5."""

from __future__ import annotations

import json
import shlex
import socket
from pathlib import Path

from bot.config import Settings
from sandbox.__main__ import recoup_env_block
from tests.cli.conftest import Cli

HINT = "the server speaks plain IMAP on this port: set RECOUP_IMAP_SSL=false (or use port 993)"


def _use_banner_block(cli: Cli) -> list[str]:
    """Point Recoup at the sandbox with the banner's block: its exports go into the
    environment (over the fixture's own settings); returns its `recoup accounts add` lines."""
    for key in ("RECOUP_PORTAL_BASE_URL", "RECOUP_PORTAL_LOGIN_BASE_URL", "RECOUP_IMAP_HOST",
                "RECOUP_IMAP_PORT", "RECOUP_IMAP_SSL"):
        cli.monkeypatch.delenv(key)
    lines = recoup_env_block(cli.sb.url, cli.sb.login_base, cli.mail.host, cli.mail.imap_port,
                             cli.sb.scenario.accounts)
    for text in lines:
        if text.startswith("export "):
            key, _, value = text.removeprefix("export ").partition("=")
            cli.monkeypatch.setenv(key, shlex.split(value)[0])
    return [text for text in lines if text.startswith("recoup accounts add ")]


def _check(report: dict[str, object], name: str, subject: str | None = None) -> dict[str, object]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return next(c for c in checks if c["check"] == name and (subject is None or c["subject"] == subject))


def test_doctor_passes_against_the_sandbox_set_up_from_its_banner(cli: Cli) -> None:
    adds = _use_banner_block(cli)
    for wanted in ("ann", "cody", "dora"):  # plain, login code by mail, TOTP
        add = next(a for a in adds if a.split()[3] == wanted)
        cli(*shlex.split(add)[1:])
    report = cli.json("doctor")
    assert report["ok"] is True and report["exit_code"] == 0, json.dumps(report, indent=1)
    names = {(c["check"], c["subject"]) for c in report["checks"]}
    assert {"data folder", "store", "chromium", "portal", "mail server"} <= {n for n, _ in names}
    for account in ("ann", "cody", "dora"):
        assert ("secrets", account) in names and ("mailbox", account) in names
    assert "schema at the newest migration" in str(_check(report, "store")["detail"])
    human = cli("doctor")
    assert "all checks passed" in human.stdout and "PROBLEM" not in human.stdout
    for acc in cli.sb.scenario.accounts:
        assert acc.password not in human.output + json.dumps(report)


def test_doctor_names_a_missing_secret_and_exits_6(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli.add_account("cody", "cody@buyer.test")
    cli.monkeypatch.delenv("RECOUP_SECRET_ANN_PASSWORD")
    report = cli.json("doctor", code=6)
    secrets = _check(report, "secrets", "ann")
    assert secrets["ok"] is False and secrets["error"] == "SecretMissingError"
    assert "ann" in str(secrets["detail"]) and "RECOUP_SECRET_ANN_PASSWORD" in str(secrets["detail"])
    assert "export RECOUP_SECRET_ANN_PASSWORD=" in str(secrets["todo"])
    assert _check(report, "secrets", "cody")["ok"] is True
    human = cli("doctor", code=6)
    assert "PROBLEM secrets: ann: secret env:RECOUP_SECRET_ANN_PASSWORD is not set" in human.stdout
    for email in ("ann@buyer.test", "cody@buyer.test"):
        assert cli.password(email) not in human.output + json.dumps(report)


def test_doctor_gives_the_tls_hint_against_the_plain_sandbox_dovecot(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli.monkeypatch.setenv("RECOUP_IMAP_SSL", "true")
    report = cli.json("doctor", code=6)
    server = _check(report, "mail server")
    assert server["ok"] is False and HINT in str(server["detail"]), server
    assert "RECOUP_IMAP_SSL=false" in str(server["todo"])
    assert _check(report, "portal")["ok"] is True


def test_the_login_code_wait_gives_the_tls_hint_instead_of_waiting_out(cli: Cli) -> None:
    """cody's sign-in asks for an emailed code: with TLS on against the plain Dovecot the wait
    stops at the first look with the hint (exit 6) instead of retrying until its timeout."""
    cli.add_account("cody", "cody@buyer.test")
    cli.monkeypatch.setenv("RECOUP_IMAP_SSL", "true")
    result = cli("accounts", "login", "cody", "--json", code=6)
    out = json.loads(result.stdout)
    assert out["error"] == "ConfigError" and HINT in out["message"]
    assert "WRONG_VERSION_NUMBER" not in out["message"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_doctor_exits_5_when_the_portal_is_unreachable(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    url = f"http://127.0.0.1:{_closed_port()}"
    cli.monkeypatch.setenv("RECOUP_PORTAL_BASE_URL", url)
    report = cli.json("doctor", code=5)
    portal = _check(report, "portal")
    assert portal["ok"] is False and portal["error"] == "PortalUnavailableError"
    assert f"{url}/ is unreachable" in str(portal["detail"]) and portal["todo"]
    assert all(c["ok"] for c in report["checks"] if c["check"] != "portal")


def test_the_banner_block_saved_as_env_file_sets_recoup_up(cli: Cli, tmp_path: Path) -> None:
    """The block is also a valid `.env` file: Recoup reads the settings from it."""
    lines = recoup_env_block("http://127.0.0.1:4100", "http://127.0.0.1:4100/login", "127.0.0.1", 4143,
                             cli.sb.scenario.accounts)
    (tmp_path / ".env").write_text("\n".join(t for t in lines if t.startswith("export ")) + "\n")
    for key in ("RECOUP_PORTAL_BASE_URL", "RECOUP_PORTAL_LOGIN_BASE_URL", "RECOUP_IMAP_HOST",
                "RECOUP_IMAP_PORT", "RECOUP_IMAP_SSL"):
        cli.monkeypatch.delenv(key)
    cli.monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.portal_base_url == "http://127.0.0.1:4100"
    assert settings.portal_login_base_url == "http://127.0.0.1:4100/login"
    assert (settings.imap_host, settings.imap_port, settings.imap_ssl) == ("127.0.0.1", 4143, False)
    assert "recoup accounts add bernd --email bernd@kaeufer.test --locale de_DE" in lines
    assert "export RECOUP_SECRET_DORA_TOTP=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in lines
    assert any("throwaway test data" in t for t in lines)
