"""End to end: 20 cases across 3 accounts (one German, one signing in with TOTP) go from queued
to their final state through the scheduler service (`python -m bot run`), the portal's emails
and status changes on the sandbox clock; every state change reaches the webhook receiver once.

Each order of `sandbox/scenarios/e2e.yaml` has one seller behaviour; the expected end of each
case follows from it as the order page shows it (bot/outcomes.py; the portal's mails only make
the status check due, bot/mail/effects.py), and every final state is set by a status check, never
by a mail alone: approved for a cancellation that
happened, rejected when the seller refuses, refunded when the money came back, and a
counter-proposal of 50% is disagreed with (policy: at least 80%) and then refunded by the platform.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.cases import create_case
from bot.config import Settings
from bot.models import Account, CaseKind, NewCase, RefundType
from bot.outbox import verify_signature
from bot.states import CaseState
from bot.store import Store
from sandbox.mailserver import MailServer
from sandbox.scenario import Order
from tests.fixtures.sandbox import start_with_mail
from tests.fixtures.service import Service, service_env, wait_until
from tests.flows.conftest import png_bytes

SECRET = "e2e-webhook-secret"


class Receiver:
    """A webhook receiver on loopback that records every delivery and checks its signature."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not verify_signature(SECRET, self.headers.get("X-Recoup-Signature", ""), body):
                    receiver.bad_signatures += 1
                receiver.deliveries.append({"id": self.headers.get("X-Recoup-Event-Id"),
                                            "payload": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def expected_end(order: Order) -> CaseState:
    if order.status in ("awaiting_payment", "awaiting_shipment"):
        return CaseState.REJECTED if order.seller.cancel == "reject" else CaseState.APPROVED
    return CaseState.REJECTED if order.seller.refund == "reject" else CaseState.REFUNDED


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def test_twenty_cases_to_their_final_state(mail_server: MailServer, tmp_path: Path,
                                           receiver: Receiver) -> None:
    sb = start_with_mail(mail_server, "e2e")
    data = tmp_path / "data"
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        (photos / f"photo{i}.png").write_bytes(png_bytes(14 + i, 14))
    secrets: dict[str, str] = {}
    settings = Settings(data_dir=data, dispute_share_cap=1.0, webhook_url=receiver.url,
                        webhook_secret=SECRET)
    settings.ensure_dirs()
    store = Store.open(settings.resolved_database_url, outbox_targets=("webhook",))
    expected: dict[int, CaseState] = {}
    try:
        for acc in sb.scenario.accounts:
            name = acc.email.split("@")[0]
            key = name.upper()
            secrets[f"RECOUP_SECRET_{key}_PASSWORD"] = acc.password
            secrets[f"RECOUP_SECRET_{key}_MAILBOX"] = acc.mailbox_password
            totp_ref = None
            if acc.totp_secret:
                secrets[f"RECOUP_SECRET_{key}_TOTP"] = acc.totp_secret
                totp_ref = f"env:RECOUP_SECRET_{key}_TOTP"
            store.accounts.add(Account(
                name=name, email=acc.email, locale=acc.locale, totp_ref=totp_ref,
                password_ref=f"env:RECOUP_SECRET_{key}_PASSWORD",
                mailbox_password_ref=f"env:RECOUP_SECRET_{key}_MAILBOX"))
            for order in acc.orders:
                refund = order.status == "awaiting_delivery"
                new = NewCase(
                    account=name, order_id=order.id, kind=CaseKind.REFUND if refund else CaseKind.CANCEL,
                    reason="not_received" if refund else "not_shipped_on_time",
                    message="Tracking shows no movement for weeks." if refund else "Please cancel.",
                    refund_type=RefundType.REFUND_ONLY if refund else None,
                    amount=Decimal(str(order.items[0].price)) if refund else None,
                    currency="USD" if refund else None)
                case = create_case(store, settings, new, evidence=sorted(photos.iterdir()) if refund else (),
                                   evidence_root=None)
                expected[case.id] = expected_end(order)
        assert len(expected) == 20 and len(sb.scenario.accounts) == 3

        env = service_env(sb, mail_server, data, RECOUP_MAX_CONCURRENCY="2", RECOUP_DISPUTE_SHARE_CAP="1.0",
                          RECOUP_WEBHOOK_URL=receiver.url, RECOUP_WEBHOOK_SECRET=SECRET,
                          RECOUP_OUTBOX_INTERVAL_SECONDS="1", RECOUP_STATUS_POLL_INTERVAL_SECONDS="2",
                          # The sandbox clock runs 30 min per quarter second, so a page that is read
                          # just before the seller's decision lands is read again within a minute
                          # (not the real-time 15 min) after the mail's check found nothing new.
                          RECOUP_STATUS_CHECK_NEW_MINUTES="1",
                          **secrets)
        service = Service(env, tmp_path / "service.log")
        service.start()

        def done() -> bool:
            return all(store.cases.get(i).state is want for i, want in expected.items())

        filing = {CaseState.QUEUED, CaseState.RUNNING, CaseState.SUBMITTING}

        def advance_clock() -> None:
            """Half an hour a round while requests are being filed (sellers answer within it),
            four hours once all are filed (the 48 h windows and the 72 h platform decisions)."""
            still_filing = any(store.cases.get(i).state in filing for i in expected)
            sb.admin.advance(1800 if still_filing else 4 * 3600)

        try:
            wait_until(done, 600, "every case to reach its final state", between=advance_clock)
            final_events = {i: [e for e in store.cases.history(i) if e.to_state is want]
                            for i, want in expected.items()}
            wait_until(lambda: all(
                any(d["id"] == str(ev[-1].id) for d in receiver.deliveries) for ev in final_events.values()),
                60, "the final outcomes to reach the webhook")
        finally:
            code = service.stop()
        assert code == 0, service.tail()
        ends = {i: store.cases.get(i).state for i in expected}
        assert ends == expected, service.tail()
        for case_id in expected:  # the order pages decided every outcome, no mail alone
            assert all(e.kind != "mail_outcome" for e in store.cases.history(case_id)), case_id
        for case_id in expected:  # one request per case; a counter-offer also got one answer
            case = store.cases.get(case_id)
            by_kind = sb.admin.submissions(case.order_id)["by_kind"]
            sent = sb.admin.requests_sent(case.order_id)
            assert sent.pop(case.kind.value) == 1, (case.order_id, by_kind)
            assert all(n == 1 for n in sent.values()), (case.order_id, by_kind)
        for case_id, want in expected.items():  # each report shows the final state, whoever set it
            report = (settings.evidence_dir / f"case-{case_id}" / "report.html").read_text()
            assert f'current status <span class="badge state">{want.value}</span>' in report, case_id
        ids = [d["id"] for d in receiver.deliveries]
        assert len(ids) == len(set(ids)), "an event reached the webhook twice"
        assert receiver.bad_signatures == 0
    finally:
        store.close()
        sb.stop()
