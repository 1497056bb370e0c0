"""Real-shaped portal mail through the real pieces (issue 8, "Must show"): a mail relayed by
Apple's Hide My Email and a parcel-first mail naming its order only in a link land in the
buyer's Dovecot mailbox; the poller reads them, each asks for a status check of its case, and
the status check in Chromium reads the sandbox's order page, which gives the real outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.browser import BrowserManager
from bot.engine import Engine
from bot.mail.classify import UNRECOGNISED
from bot.mail.codes import ImapCodeSource
from bot.mail.poller import MailPoller
from bot.models import Account, CaseKind
from bot.outcomes import TRACKED_STATES
from bot.states import CaseState
from bot.store import Store
from flows.pack import load_pack
from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.fixtures.mail import deliver, make_message
from tests.flows.conftest import make_settings
from tests.mail.corpus import RELAY
from tests.tracking.conftest import submitted_case

pytestmark = pytest.mark.e2e

CANCEL_OID = "3042417938137400"  # cancel requested; the seller approves after 30 min
REFUND_OID = "3042417938137401"  # refund requested; the seller accepts after an hour
PARCEL = "LP00123456789012345"


async def test_relayed_and_parcel_first_mails_ring_and_the_page_decides(
    sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.admin.reset()
    settings = make_settings(sandbox, mail_server, tmp_path / "data")
    settings.ensure_dirs()
    store = Store.open(settings.resolved_database_url)
    browser = BrowserManager(settings)
    try:
        ann = next(a for a in sandbox.scenario.accounts if a.email == "ann@buyer.test")
        monkeypatch.setenv("RECOUP_SECRET_ANN_PASSWORD", ann.password)
        monkeypatch.setenv("RECOUP_SECRET_ANN_MAILBOX", ann.mailbox_password)
        store.accounts.add(Account(name="ann", email=ann.email, locale=ann.locale,
                                   password_ref="env:RECOUP_SECRET_ANN_PASSWORD",
                                   mailbox_password_ref="env:RECOUP_SECRET_ANN_MAILBOX"))  # fmt: skip
        poller = MailPoller(store, load_pack(settings), settings, store.clock)
        poller.poll_account("ann")  # what other tests left in Ann's mailbox: read before any case
        cancel = submitted_case(store, "ann", CaseKind.CANCEL, CANCEL_OID)
        refund = submitted_case(store, "ann", CaseKind.REFUND, REFUND_OID)

        relayed = make_message(
            f"Order {CANCEL_OID}: Cancellation approved",
            "The seller agreed to cancel your order.",
            sender=f"AliExpress <{RELAY}>",
            to=ann.email,
        )
        link = f"https://www.aliexpress.com/p/tracking/index.html?_addShare=no&tradeOrderId={REFUND_OID}"
        parcel_first = make_message(
            f"Package {PARCEL}: Picked up by courier",
            f"Your package {PARCEL} has been picked up by the courier.",
            to=ann.email,
            html=f"<p>Your package {PARCEL} has been picked up.</p><a href='{link}'>Track package</a>",
        )
        for raw in (relayed, parcel_first):
            deliver(mail_server, ann.email, raw)

        result = poller.poll_account("ann")
        assert (result.fetched, result.applied) == (2, 2)

        checks = {
            case.id: [e.detail for e in store.cases.history(case.id) if e.kind == "status_check_requested"]
            for case in (cancel, refund)
        }
        [relay_check] = checks[cancel.id]
        assert relay_check["sender_via"] == "relay:apple" and relay_check["hint"] == "approved"
        [parcel_check] = checks[refund.id]
        assert parcel_check["signal"] == UNRECOGNISED and "hint" not in parcel_check
        for case in (cancel, refund):  # the mail moved nothing
            assert store.cases.get(case.id).state is CaseState.SUBMITTED
        due = [t.case_id for t in store.tracking.due_checks(TRACKED_STATES) if t.account == "ann"]
        assert sorted(due) == sorted([cancel.id, refund.id])

        sandbox.admin.advance(3700)  # the sellers answer on the portal
        codes = ImapCodeSource(settings, poll_interval_s=0.3)
        engine = Engine(settings=settings, store=store, browser=browser, pack=load_pack(settings),
                        code_source=codes, clock=store.clock)  # fmt: skip
        checked = await engine.check_account("ann", [store.cases.get(i) for i in due])
        assert checked.moved == {cancel.id: CaseState.APPROVED, refund.id: CaseState.REFUNDED}
        for case, want in ((cancel, CaseState.APPROVED), (refund, CaseState.REFUNDED)):
            final = [e for e in store.cases.history(case.id) if e.to_state is want]
            assert [e.kind for e in final] == ["status_check"], case.order_id
    finally:
        await browser.close()
        store.close()
