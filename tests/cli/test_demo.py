"""The demo end to end (reduced to 5 cases: one per kind of ending), then a scan of everything it
left on disk for secrets: account and mailbox passwords, TOTP secrets, session cookie values and
the login codes the portal mailed must appear in no log, report, manifest or evidence file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.cli_demo_sandbox import SCENARIOS, SandboxProcess
from bot.demo import PLAN, run_demo
from bot.store import Store
from sandbox.scenario import load_scenario


def _secrets_in_sessions(folder: Path) -> list[str]:
    values: list[str] = []
    for state in folder.glob("*.json"):
        values += [
            c["value"] for c in json.loads(state.read_text()).get("cookies", []) if len(c["value"]) >= 8
        ]
    return values


def test_demo_reduced_then_no_secret_on_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mails: list[dict[str, Any]] = []
    original_stop = SandboxProcess.stop

    def stop_and_keep_mail_log(self: SandboxProcess) -> None:
        if self._admin is not None:  # the login codes the portal mailed, read before it stops
            mails.extend(self.admin.mail_log())
        original_stop(self)

    monkeypatch.setattr(SandboxProcess, "stop", stop_and_keep_mail_log)
    data = tmp_path / "demo"
    code = run_demo(data_dir=data, cases=5, timeout=420)
    out = capsys.readouterr().out

    assert code == 0, out
    assert "Demo cases" in out and "HTML evidence reports" in out
    assert "counted one request for each of the 4 filed cases; none was sent twice" in out  # dora: challenge
    with Store.open(f"sqlite:///{data / 'recoup.db'}") as store:
        cases = {c.order_id: c for c in store.cases.list_cases()}
    assert set(cases) == {p.order_id for p in PLAN[:5]}
    states = {c.account: set() for c in cases.values()}
    for c in cases.values():
        states[c.account].add(c.state.value)
    assert states["dora"] == {"needs_human"}  # the slider challenge
    assert states["claudia"] == {"refunded"}  # German pages
    assert states["bob"] == {"approved"}  # emailed login code; seller silent: closes itself
    assert states["alice"] == {"approved", "refunded"}  # cancel approved; counter-offer refused → refunded
    reports = [Path(p) for p in re.findall(r"(/\S+/report\.html)", out)]
    assert len(reports) == 5 and all(p.is_file() for p in reports)

    # ---- the secrets scan ----
    scenario = load_scenario(SCENARIOS / "demo.yaml")
    secrets = [a.password for a in scenario.accounts] + [a.mailbox_password for a in scenario.accounts]
    secrets += [a.totp_secret for a in scenario.accounts if a.totp_secret]
    cookies = _secrets_in_sessions(data / "sessions")
    assert cookies, "the demo stored sessions, so there are cookie values to look for"
    codes = [
        m for mail in mails if mail["kind"] == "login_code" for m in re.findall(r"\b\d{6}\b", mail["text"])
    ]
    assert codes, "Bob signs in with an emailed code"
    scanned = [
        p
        for p in data.rglob("*")
        if p.is_file() and (p.suffix in {".log", ".html", ".json", ".txt"} or p.name.startswith("recoup.log"))
    ]
    scanned = [p for p in scanned if p.parent.name != "sessions"]  # the sessions themselves (0600)
    assert any(p.name == "recoup.log" for p in scanned) and any(p.name == "manifest.json" for p in scanned)
    for path in scanned:
        text = path.read_text(errors="replace")
        for secret in secrets + cookies:
            assert secret not in text, f"a secret appears in {path}"
        for code_ in codes:
            assert not re.search(rf"(?<!\d){code_}(?!\d)", text), f"a login code appears in {path}"
