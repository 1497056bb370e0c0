"""The demo end to end (reduced to 5 cases: one per kind of ending, its outcome webhook on), then a
scan of everything it left: account and mailbox passwords, TOTP secrets, session cookie values,
the login codes the portal mailed and the tokens it used (sandbox admin token, webhook secret)
must appear nowhere: not in the database file, logs, evidence, reports, manifests, traces, the
evidence bundles and exports made afterwards, nor the webhook bodies, and not in the text that OCR
reads from any image (screenshots and every screencast frame of the kept traces). And every file
of the data folder is private (0600 files, 0700 folders)."""

from __future__ import annotations

import json
import re
import secrets as token_source
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.demo import PLAN, run_demo
from bot.outbox import verify_signature
from bot.store import Store
from sandbox.process import SCENARIOS, SandboxProcess
from sandbox.scenario import load_scenario
from tests.fixtures.leaks import blobs, byte_hits, ocr_available, ocr_texts, squeeze


def _secrets_in_sessions(folder: Path) -> list[str]:
    values: list[str] = []
    for state in folder.glob("*.json"):
        values += [
            c["value"] for c in json.loads(state.read_text()).get("cookies", []) if len(c["value"]) >= 8
        ]
    return values


class _Receiver(BaseHTTPRequestHandler):
    secret: ClassVar[str] = ""
    bodies: ClassVar[list[bytes]] = []
    bad: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if verify_signature(self.secret, self.headers.get("X-Recoup-Signature"), body):
            type(self).bodies.append(body)
            self.send_response(204)
        else:
            type(self).bad.append(self.headers.get("X-Recoup-Signature") or "")
            self.send_response(401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    """A loopback webhook receiver that checks every signature; yields (url, handler class)."""
    handler = type("Receiver", (_Receiver,), {"secret": token_source.token_hex(16), "bodies": [], "bad": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def _private(folder: Path) -> list[str]:
    """Paths under `folder` (itself included) that group or others may use."""
    loose = []
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077 or (path.is_file() and mode & 0o111):
            loose.append(f"{path} {mode:04o}")
    return loose


def test_demo_reduced_then_no_secret_on_disk(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    webhook_receiver: tuple[str, type[_Receiver]],
) -> None:
    assert ocr_available(), "tesseract is installed by .ci/system-packages"
    mails: list[dict[str, Any]] = []
    tokens: list[str] = []
    original_stop = SandboxProcess.stop

    def stop_and_keep_mail_log(self: SandboxProcess) -> None:
        if self._admin is not None:  # the login codes the portal mailed, read before it stops
            mails.extend(self.admin.mail_log())
            tokens.append(self.token)
        original_stop(self)

    monkeypatch.setattr(SandboxProcess, "stop", stop_and_keep_mail_log)
    hook_url, receiver = webhook_receiver
    data = tmp_path / "demo"
    code = run_demo(data_dir=data, cases=5, timeout=420, webhook_url=hook_url, webhook_secret=receiver.secret)
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

    # ---- what an operator makes afterwards: evidence bundles and exports ----
    exports = tmp_path / "exports"
    exports.mkdir(mode=0o700)
    runner = CliRunner()
    for case in cases.values():
        made = runner.invoke(app, ["--data-dir", str(data), "evidence", str(case.id), "--zip"])
        assert made.exit_code == 0, made.output
    for fmt in ("csv", "json"):
        target = exports / f"cases.{fmt}"
        made = runner.invoke(
            app, ["--data-dir", str(data), "cases", "export", "--format", fmt, "-o", str(target)]
        )
        assert made.exit_code == 0, made.output
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert receiver.bodies and not receiver.bad, "the demo's webhook deliveries arrived, every one signed"
    hooks = tmp_path / "webhook-bodies"
    hooks.mkdir()
    for n, body in enumerate(receiver.bodies):
        (hooks / f"{n}.json").write_bytes(body)

    # ---- the secrets scan ----
    scenario = load_scenario(SCENARIOS / "demo.yaml")
    secrets = [a.password for a in scenario.accounts] + [a.mailbox_password for a in scenario.accounts]
    secrets += [a.totp_secret for a in scenario.accounts if a.totp_secret]
    secrets += [*tokens, receiver.secret]
    assert tokens, "the sandbox's admin token was seen"
    cookies = _secrets_in_sessions(data / "sessions")
    assert cookies, "the demo stored sessions, so there are cookie values to look for"
    codes = [
        m for mail in mails if mail["kind"] == "login_code" for m in re.findall(r"\b\d{6}\b", mail["text"])
    ]
    assert codes, "Bob signs in with an emailed code"
    kept = [p for p in data.iterdir() if p.name != "sessions"]  # the sessions themselves hold cookies (0600)
    found = list(blobs([*kept, exports, hooks]))
    names = [b.name for b in found]
    for expected in (
        "recoup.db",
        "recoup.log",
        "manifest.json",
        "report.html",
        "evidence-bundle.zip",
        "cases.csv",
    ):
        assert any(n.endswith(expected) for n in names), f"the scan saw no {expected}"
    # issue 10: a first attempt records no trace; dora's failed session (a password was typed in
    # it) left a screenshot of the page it failed on instead, which the OCR below reads too
    frames = [b for b in found if b.is_image and "-failure." in b.name]
    assert frames, "dora's failed session left a failure screenshot"
    assert byte_hits(found, secrets + cookies + codes) == []

    # Images: OCR reads every screenshot and every trace frame. It must be able to read the
    # pages (it finds the order ids that the screenshots show) and must find no secret.
    texts = ocr_texts(found)
    assert len(texts) >= len({b.data for b in frames}) > 0
    seen_ids = {oid for oid in cases if any(oid in squeeze(t) for t in texts.values())}
    assert seen_ids, "OCR reads digits on the screenshots (a code typed in clear would be read too)"
    for name, text in texts.items():
        flat = squeeze(text)
        for secret in secrets + codes:
            assert squeeze(secret) not in flat, f"OCR reads a secret in {name}"

    # Files: private to the user who ran the demo.
    assert _private(data) == []
