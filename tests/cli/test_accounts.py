"""`recoup accounts`: secrets stay references; the password never reaches the database or output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.fixtures.service import wait_until


def test_add_list_remove_never_stores_or_prints_the_password(cli: Cli) -> None:
    password = cli.password("ann@buyer.test")
    cli.secret_env("ann", "ann@buyer.test")
    added = cli("accounts", "add", "ann", "--email", "ann@buyer.test", "--json")
    listed = cli("accounts", "list")
    listed_json = cli.json("accounts", "list")

    assert json.loads(added.stdout)["password_ref"] == "env:RECOUP_SECRET_ANN_PASSWORD"
    assert json.loads(added.stdout)["mailbox_password_ref"] == "env:RECOUP_SECRET_ANN_MAILBOX"
    assert [a["name"] for a in listed_json] == ["ann"]
    assert "env:RECOUP_SECRET_ANN_PASSWORD" in listed.stdout
    for output in (added.output, listed.output, json.dumps(listed_json)):
        assert password not in output
    raw = b"".join(p.read_bytes() for p in cli.data.glob("recoup.db*"))
    assert b"ann@buyer.test" in raw  # the scan does see the account's row ...
    assert password.encode() not in raw  # ... but never its password
    log = (cli.data / "logs" / "recoup.log").read_text()
    assert password not in log

    removed = cli.json("accounts", "remove", "ann")
    assert removed == {"removed": "ann"}
    assert cli.json("accounts", "list") == []


def test_a_secret_given_instead_of_a_reference_is_refused_and_not_repeated(cli: Cli) -> None:
    password = cli.password("ann@buyer.test")
    before = cli.counts()
    result = cli("accounts", "add", "ann", "--email", "ann@buyer.test", "--password-ref", password, code=2)
    assert "reference like env:NAME or file:key" in result.output
    assert password not in result.output
    assert cli.counts() == before


@pytest.mark.parametrize("option", ["--password-ref", "--totp-ref", "--mailbox-password-ref"])
@pytest.mark.parametrize("shape", ["env:{pw}", "file:{pw}", "env:{pw} x", "env:{upper}", "file:{long}"])
@pytest.mark.parametrize("no_check", [True, False])
def test_a_secret_shaped_as_a_reference_is_refused_and_not_repeated(
    cli: Cli, option: str, shape: str, no_check: bool
) -> None:
    """`env:<the password>` is no reference: refused with or without --no-check, for every
    reference option, and the message shows the expected form, never what was given."""
    password = cli.password("ann@buyer.test")  # e.g. ann-pass-1: lower case and dashes
    cli.secret_env("ann", "ann@buyer.test")
    given = shape.format(pw=password, upper=password.upper(), long="k" * 200)
    before = cli.counts()
    args = ["accounts", "add", "ann", "--email", "ann@buyer.test", option, given]
    result = cli(*args, *(["--no-check"] if no_check else []), code=2)
    assert f"{option} must be a reference like env:NAME" in result.output
    for hidden in (password, password.upper(), "k" * 200):
        assert hidden not in result.output
    assert "ann-pass" not in result.output.lower()
    assert cli.counts() == before
    log = cli.data / "logs" / "recoup.log"
    assert not log.exists() or password not in log.read_text()


def test_a_reference_that_resolves_to_nothing_is_refused(cli: Cli) -> None:
    before = cli.counts()
    result = cli("accounts", "add", "zed", "--email", "zed@buyer.test", code=2)
    assert "RECOUP_SECRET_ZED_PASSWORD is not set" in result.output
    assert cli.counts() == before


def test_secrets_file_reference(cli: Cli) -> None:
    secrets = cli.tmp / "secrets.yaml"
    secrets.write_text(f"ann_pw: {cli.password('ann@buyer.test')}\n")
    secrets.chmod(0o600)
    cli.monkeypatch.setenv("RECOUP_SECRETS_FILE", str(secrets))
    added = cli.json("accounts", "add", "ann", "--email", "ann@buyer.test", "--password-ref", "file:ann_pw")
    assert added["password_ref"] == "file:ann_pw"
    login = cli.json("accounts", "login", "ann")
    assert login["method"] == "password"


def test_a_secrets_file_others_may_read_is_used_with_a_warning(cli: Cli) -> None:
    secrets = cli.tmp / "secrets.yaml"
    secrets.write_text(f"ann_pw: {cli.password('ann@buyer.test')}\n")
    secrets.chmod(0o644)
    cli.monkeypatch.setenv("RECOUP_SECRETS_FILE", str(secrets))
    result = cli("accounts", "add", "ann", "--email", "ann@buyer.test", "--password-ref", "file:ann_pw")
    assert f"secrets file {secrets} has mode 0644" in result.output
    assert f"chmod 600 {secrets}" in result.output
    assert cli.password("ann@buyer.test") not in result.output
    assert [a["name"] for a in cli.json("accounts", "list")] == ["ann"]


def test_strict_secrets_refuses_a_secrets_file_others_may_read(cli: Cli) -> None:
    secrets = cli.tmp / "secrets.yaml"
    secrets.write_text(f"ann_pw: {cli.password('ann@buyer.test')}\n")
    secrets.chmod(0o640)
    cli.monkeypatch.setenv("RECOUP_SECRETS_FILE", str(secrets))
    cli.monkeypatch.setenv("RECOUP_STRICT_SECRETS", "true")
    before = cli.counts()
    args = ("accounts", "add", "ann", "--email", "ann@buyer.test", "--password-ref", "file:ann_pw")
    refused = cli.json(*args, code=6)
    assert refused["error"] == "SecretMissingError"
    assert f"{secrets} has mode 0640" in refused["message"] and "chmod 600" in refused["message"]
    assert cli.counts() == before
    secrets.chmod(0o600)
    assert cli.json(*args)["password_ref"] == "file:ann_pw"


def test_login_signs_in_and_counts_the_orders(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    first = cli.json("accounts", "login", "ann")
    again = cli.json("accounts", "login", "ann")
    expected = len(cli.sb.scenario.account("ann@buyer.test").orders)
    assert first == {"account": "ann", "method": "password", "orders_seen": expected}
    assert again["method"] == "session"  # the stored session is reused
    assert cli.json("accounts", "list")[0]["orders_seen"] == expected
    session = next((cli.data / "sessions").iterdir())
    assert session.stat().st_mode & 0o077 == 0


def test_login_with_an_emailed_code(cli: Cli) -> None:
    cli.add_account("cody", "cody@buyer.test")
    assert cli.json("accounts", "login", "cody")["method"] == "email_code"


def test_remove_refuses_an_account_with_cases_and_unknown_names(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli("cancel", "3042417938137200", "--account", "ann", "--reason", "not_shipped_on_time", "--queue")
    result = cli("accounts", "remove", "ann", code=2)
    assert "has 1 case" in result.output
    assert "no account named 'nobody'" in cli("accounts", "remove", "nobody", code=2).output


@pytest.fixture
def x_display() -> Iterator[str]:
    """A virtual screen (Xvfb, installed by .ci/system-packages) for a headed Chromium."""
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is missing: `make setup` installs Debian's xvfb"
    ready, ready_w = os.pipe()
    command = [xvfb, "-displayfd", str(ready_w), "-screen", "0", "1280x900x24", "-nolisten", "tcp"]
    proc = subprocess.Popen(command, pass_fds=(ready_w,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(ready_w)
    with os.fdopen(ready) as announced:
        number = announced.readline().strip()  # written once the server accepts clients
    assert number, "Xvfb did not start"
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_headed_login_waits_for_a_person_to_solve_the_slider(cli: Cli, x_display: str) -> None:
    """erik meets a slider on My Orders. In a headed browser the command waits; the person at
    the window solves it (here: the admin call that stands in for a human) and the count goes on."""
    cli.monkeypatch.setenv("DISPLAY", x_display)
    cli.add_account("erik", "erik@buyer.test")
    shots = cli.data / "screenshots"

    def person_at_the_window() -> None:
        wait_until(lambda: shots.is_dir() and any(shots.glob("*.png")), 90, "the challenge screenshot")
        cli.sb.admin.clear_challenge("erik@buyer.test")

    person = threading.Thread(target=person_at_the_window)
    person.start()
    try:
        out = cli.json("accounts", "login", "erik", "--headed", "--wait", "90")
    finally:
        person.join()
    erik = cli.sb.scenario.account("erik@buyer.test")
    # the password sign-in went through and landed on the slider; once solved, the try again
    # finds that signed-in session
    assert out == {"account": "erik", "method": "session", "orders_seen": len(erik.orders)}


def test_headed_login_gives_up_when_nobody_solves_the_slider(cli: Cli, x_display: str) -> None:
    cli.monkeypatch.setenv("DISPLAY", x_display)
    cli.add_account("erik", "erik@buyer.test")
    result = cli("accounts", "login", "erik", "--headed", "--wait", "3", code=3)
    assert "nobody solved the slider within 3 s" in result.output
    # the person is told at once (stderr, without -v) where to look and how long it waits
    assert "erik: a slider challenge is showing (screenshot " in result.stderr
    assert "solve it in the browser window; waiting up to 3 s" in result.stderr
    assert "recoup accounts login erik --headed` again" in result.stderr
    assert cli.json("accounts", "list")[0]["orders_seen"] is None


def test_a_slider_names_the_headed_command_and_the_screenshot(cli: Cli) -> None:
    cli.add_account("erik", "erik@buyer.test")
    result = cli("accounts", "login", "erik", code=3)
    message = " ".join(result.stderr.split())  # Rich may wrap a long line
    assert "run `recoup accounts login erik --headed`" in message
    shot = re.search(r"screenshot: (\S+\.png)", message)
    assert shot, message
    assert Path(shot.group(1)).is_file() and Path(shot.group(1)).parent == cli.data / "screenshots"
    as_json = cli.json("accounts", "login", "erik", code=3)
    assert as_json["error"] == "ChallengeRequiredError" and "--headed" in as_json["message"]


def test_headed_without_a_display_fails_at_once_with_the_xvfb_hint(cli: Cli) -> None:
    cli.monkeypatch.delenv("DISPLAY", raising=False)
    cli.monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    cli.add_account("erik", "erik@buyer.test")
    out = cli.json("accounts", "login", "erik", "--headed", code=6)
    assert out["error"] == "ConfigError"
    assert out["message"] == (
        "no display: run under Xvfb (xvfb-run recoup accounts login erik --headed) or on a desktop")
    assert not (cli.data / "screenshots").exists()  # no browser was started
