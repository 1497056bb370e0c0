"""`recoup selectors check` and `recoup sandbox` through the real stack: the pack check offline
and live against the sandbox (a broken locator exits 3), and the sandbox command serving the
portal and its Dovecot until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from imapclient import IMAPClient

from tests.cli.conftest import Cli
from tests.fixtures.service import REPO, wait_until

PACK = REPO / "selectors" / "aliexpress.yaml"


def test_selectors_check_offline_then_live(cli: Cli) -> None:
    offline = cli.json("selectors", "check")
    assert offline["portal"] == "aliexpress" and offline["locators"] > 50 and offline["failed"] is False

    cli.add_account("ann", "ann@buyer.test")
    live = cli.json("selectors", "check", "--account", "ann", "--refund-order", "3042417938137300")
    assert live["failed"] is False
    visited = {p["page"] for p in live["pages"] if p["visited"]}
    assert {"login", "order_list", "order_detail", "refund_list", "refund_form"} <= visited
    assert cli.sb.admin.submissions("3042417938137300")["count"] == 0  # read-only


def test_selectors_check_exits_3_when_a_required_locator_finds_nothing(cli: Cli, tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    data["pages"]["order_list"]["locators"]["card_status"]["alternatives"] = [
        {"kind": "css", "css": ".no-such-status"}]  # as if the portal renamed it
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "changed.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cli.monkeypatch.setenv("RECOUP_PACK_DIR", str(packs))
    cli.monkeypatch.setenv("RECOUP_PORTAL", "changed")
    cli.add_account("ann", "ann@buyer.test")
    result = cli("selectors", "check", "--account", "ann", code=3)
    assert "card_status" in result.stdout and "FAILED" in result.stdout


def test_sandbox_command_serves_portal_and_mail_until_ctrl_c(tmp_path: Path) -> None:
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "sandbox", "--scenario", "test"], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "Ctrl-C stops" in log.read_text(), 60, "the sandbox banner")
        banner = log.read_text()
        portal = re.search(r"Sandbox portal:\s+(\S+)", banner)
        imap = re.search(r"IMAP:\s+([\d.]+):(\d+)", banner)
        assert portal and imap, banner
        page = httpx.get(portal.group(1), follow_redirects=True, timeout=10)
        assert page.status_code == 200 and "login" in str(page.url)  # signed out: the login page
        assert "ann@buyer.test / ann-pass-1" in banner
        # a ready set-up for Recoup, secrets marked as the sandbox's throwaway test data
        assert "throwaway test data" in banner
        for wanted in (f"export RECOUP_PORTAL_BASE_URL={portal.group(1).split('/p/')[0]}",
                       f"export RECOUP_IMAP_PORT={imap.group(2)}", "export RECOUP_IMAP_SSL=false",
                       "export RECOUP_SECRET_ANN_PASSWORD=ann-pass-1",
                       "export RECOUP_SECRET_ANN_MAILBOX=ann-pass-1",
                       "recoup accounts add ann --email ann@buyer.test"):
            assert wanted + "\n" in banner, wanted
        with IMAPClient(imap.group(1), port=int(imap.group(2)), ssl=False, timeout=10) as client:
            assert b"IMAP4REV1" in client.capabilities()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    assert code == 0, log.read_text()
    assert "Stopping" in log.read_text()
