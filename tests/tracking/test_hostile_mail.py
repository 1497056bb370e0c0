"""Hostile mail through the real pieces: the sandbox portal, its Dovecot, the mail poller and a
status check in Chromium. Forged From headers, exact-address forgeries, another account's order,
outdated, huge, oversized and malformed mails all land in the buyer's real mailbox next to the
portal's genuine mails; the poller reads them in one pass. Mail is a doorbell: no case reaches a
final state by mail alone, and the status check that the mails asked for reads the order pages
and reaches the genuine outcomes (approved, refunded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.browser import BrowserManager
from bot.engine import Engine
from bot.mail.codes import ImapCodeSource
from bot.mail.poller import MailPoller
from bot.models import Account, CaseKind
from bot.outcomes import TRACKED_STATES
from bot.states import FINAL_STATES, CaseState
from bot.store import Store
from flows.pack import load_pack
from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.fixtures.mail import Mailbox, deliver, make_message
from tests.flows.conftest import make_settings
from tests.mail.hostile import HOSTILE
from tests.mail.test_sender import FORGED_FROM
from tests.tracking.conftest import portal_mail, raw_mail, submitted_case

pytestmark = pytest.mark.e2e

CANCEL_OID = "3042417938137400"  # cancel requested; the seller approves after 30 min
REFUND_OID = "3042417938137401"  # refund requested; the seller accepts after an hour
BERND_OID = "3043000000000100"  # Bernd's order, named in a mail to Ann
FORGED_AUTH = ("Authentication-Results: mx.buyer.test; dkim=pass header.d=notice.aliexpress.com; "
               "dmarc=pass header.from=notice.aliexpress.com")  # fmt: skip
MAX_BYTES = 1024 * 1024


def _hostile_batch(box: Mailbox) -> list[bytes]:
    """Every kind of hostile mail, each naming (or trying to name) an open case's order and
    claiming the outcome opposite to the page's."""
    mails: list[bytes] = []
    for value in FORGED_FROM.values():  # display-name tricks, two mailboxes, malformed From
        mails.append(raw_mail(box, f"Order {CANCEL_OID}: Cancellation rejected", CANCEL_OID, value))
        mails.append(raw_mail(box, f"Order {REFUND_OID}: Refund request rejected", REFUND_OID, value))
    portal = "AliExpress <transaction@notice.aliexpress.com>"
    mails.append(raw_mail(box, f"Order {CANCEL_OID}: Cancellation rejected", CANCEL_OID,  # two From headers
                          "evil@x.test", extra=f"From: {portal}\r\n"))  # fmt: skip
    # exact-address forgeries, even with a forged "pass" Authentication-Results
    for subject, oid in ((f"Order {CANCEL_OID}: Cancellation rejected", CANCEL_OID),
                         (f"Order {REFUND_OID}: Refund request rejected", REFUND_OID),
                         (f"Order {REFUND_OID}: Seller proposed a solution", REFUND_OID)):  # fmt: skip
        mails.append(FORGED_AUTH.encode() + b"\r\n" + portal_mail(box, subject, oid))
    mails.append(portal_mail(box, f"Order {BERND_OID}: Cancellation approved", BERND_OID))  # not Ann's
    # outdated: dated years before the case was filed
    mails.append(raw_mail(box, f"Order {REFUND_OID}: Refund complete", REFUND_OID, portal,
                          date="Tue, 1 Jan 2019 10:00:00 +0000"))  # fmt: skip
    mails.append(raw_mail(box, f"Order {CANCEL_OID}: Cancellation approved", CANCEL_OID, portal,
                          date="Tue, 1 Jan 2019 10:00:00 +0000"))  # fmt: skip
    # huge (parsed, text cut) and oversized (never downloaded)
    padding = "Refund rejected. " * 40_000
    mails.append(make_message(f"Order {REFUND_OID}: Refund request rejected", padding, to=box.email))
    mails.append(make_message(f"Order {CANCEL_OID}: Cancellation rejected", "x" * (MAX_BYTES + 10),
                              to=box.email))  # fmt: skip
    mails.extend(HOSTILE.values())
    return mails


async def test_hostile_mail_moves_no_case_and_the_page_decides(
    sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.admin.reset()
    settings = make_settings(sandbox, mail_server, tmp_path / "data", mail_max_message_bytes=MAX_BYTES,
                             mail_fetch_batch=20)  # fmt: skip
    settings.ensure_dirs()
    store = Store.open(settings.resolved_database_url)
    browser = BrowserManager(settings)
    try:
        for email, name in (("ann@buyer.test", "ann"), ("bernd@kaeufer.test", "bernd")):
            acc = next(a for a in sandbox.scenario.accounts if a.email == email)
            monkeypatch.setenv(f"RECOUP_SECRET_{name.upper()}_PASSWORD", acc.password)
            monkeypatch.setenv(f"RECOUP_SECRET_{name.upper()}_MAILBOX", acc.mailbox_password)
            ref = f"env:RECOUP_SECRET_{name.upper()}"
            store.accounts.add(
                Account(
                    name=name,
                    email=email,
                    locale=acc.locale,
                    password_ref=f"{ref}_PASSWORD",
                    mailbox_password_ref=f"{ref}_MAILBOX",
                )
            )
        ann = next(a for a in sandbox.scenario.accounts if a.email == "ann@buyer.test")
        box = Mailbox(mail_server, ann.email, ann.mailbox_password)
        cancel = submitted_case(store, "ann", CaseKind.CANCEL, CANCEL_OID)
        refund = submitted_case(store, "ann", CaseKind.REFUND, REFUND_OID)
        bernd_case = submitted_case(store, "bernd", CaseKind.CANCEL, BERND_OID)

        hostile = _hostile_batch(box)
        for raw in hostile:
            deliver(mail_server, box.email, raw)
        sandbox.admin.advance(3700)  # the sellers answer: the portal mails its genuine outcomes
        genuine = {m["order_id"] for m in sandbox.admin.mail_log(wait=True) if m["to"] == ann.email}
        assert {CANCEL_OID, REFUND_OID} <= genuine, "the sandbox mailed the sellers' answers"

        result = MailPoller(store, load_pack(settings), settings, store.clock).poll_account("ann")

        assert result.fetched >= len(hostile) + 1
        for case in (cancel, refund, bernd_case):
            history = store.cases.history(case.id)
            assert store.cases.get(case.id).state is CaseState.SUBMITTED, case.order_id
            assert not any(e.kind == "mail_outcome" or e.to_state in FINAL_STATES for e in history)
        checks = {c.id: [e.detail for e in store.cases.history(c.id) if e.kind == "status_check_requested"]
                  for c in (cancel, refund, bernd_case)}  # fmt: skip
        assert checks[bernd_case.id] == []  # a mail to Ann never touches Bernd's case
        assert {"rejected"} <= {d.get("hint") for d in checks[cancel.id]}  # the forgeries rang, no more
        assert {"rejected", "counter_offer"} <= {d.get("hint") for d in checks[refund.id]}
        assert any(d["signal"] == "cancel_approved" and d["received_at"] for d in checks[cancel.id])
        assert all(d["source"] == "mail" and d["message_key"] for d in checks[cancel.id] + checks[refund.id])

        # the status check the mails asked for reads the pages, and the page decides
        due = [t.case_id for t in store.tracking.due_checks(TRACKED_STATES) if t.account == "ann"]
        assert sorted(due) == sorted([cancel.id, refund.id])
        codes = ImapCodeSource(settings, poll_interval_s=0.3)
        engine = Engine(settings=settings, store=store, browser=browser, pack=load_pack(settings),
                        code_source=codes, clock=store.clock)  # fmt: skip
        checked = await engine.check_account("ann", [store.cases.get(i) for i in due])
        assert checked.moved == {cancel.id: CaseState.APPROVED, refund.id: CaseState.REFUNDED}
        for case, want in ((cancel, CaseState.APPROVED), (refund, CaseState.REFUNDED)):
            final = [e for e in store.cases.history(case.id) if e.to_state is want]
            assert [e.kind for e in final] == ["status_check"], case.order_id
        assert store.cases.get(bernd_case.id).state is CaseState.SUBMITTED
    finally:
        await browser.close()
        store.close()
