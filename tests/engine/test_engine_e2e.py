"""The engine end to end: store (SQLite, then PostgreSQL) + real Chromium + the sandbox + Dovecot.

Each test creates cases in a fresh store, runs them through `Engine.run_case` as a leased
worker would, and checks the case state, the sandbox's submission counts (never two), the
evidence manifest and the HTML report.
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.browser import BrowserManager
from bot.config import Settings
from bot.engine import Engine
from bot.evidence import verify_manifest
from bot.mail.codes import ImapCodeSource
from bot.models import Account, Case, CaseKind, NewCase, RefundType
from bot.states import CaseState
from bot.store import Store
from flows.cancel import cancel_order
from flows.env import FlowEnv
from flows.login import Credentials, log_in
from flows.pack import load_pack
from flows.results import nothing_to_record
from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.flows.conftest import make_settings, png_bytes

WORKER = "test-worker"


@dataclass
class Rig:
    """A store, an engine and the sandbox it talks to."""

    sb: RunningSandbox
    settings: Settings
    store: Store
    engine: Engine
    browser: BrowserManager

    def add_account(self, email: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        acc = next(a for a in self.sb.scenario.accounts if a.email == email)
        key = name.upper()
        monkeypatch.setenv(f"RECOUP_SECRET_{key}_PASSWORD", acc.password)
        monkeypatch.setenv(f"RECOUP_SECRET_{key}_MAILBOX", acc.mailbox_password)
        totp = None
        if acc.totp_secret:
            monkeypatch.setenv(f"RECOUP_SECRET_{key}_TOTP", acc.totp_secret)
            totp = f"env:RECOUP_SECRET_{key}_TOTP"
        self.store.accounts.add(Account(
            name=name, email=acc.email, password_ref=f"env:RECOUP_SECRET_{key}_PASSWORD",
            mailbox_password_ref=f"env:RECOUP_SECRET_{key}_MAILBOX", totp_ref=totp, locale=acc.locale))

    def claimed(self, new: NewCase) -> Case:
        case = self.store.intake.create_with(new)
        claimed = self.store.cases.claim(case.id, WORKER, lease_seconds=300)
        assert claimed is not None and claimed.state is CaseState.RUNNING
        return claimed

    def count(self, order_id: str) -> int:
        return int(self.sb.admin.submissions(order_id)["count"])


@pytest.fixture
async def rig(
    sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path, db_url: str
) -> AsyncIterator[Rig]:
    sandbox.admin.reset()
    settings = make_settings(sandbox, mail_server, tmp_path / "data", database_url=db_url)
    settings.ensure_dirs()
    store = Store.open(settings.resolved_database_url)
    browser = BrowserManager(settings)
    engine = Engine(settings=settings, store=store, browser=browser, pack=load_pack(settings),
                    code_source=ImapCodeSource(settings, poll_interval_s=0.3), clock=store.clock)
    try:
        yield Rig(sandbox, settings, store, engine, browser)
    finally:
        await browser.close()
        store.close()


def cancel_case(order_id: str, account: str = "ann") -> NewCase:
    return NewCase(account=account, order_id=order_id, kind=CaseKind.CANCEL,
                   reason="not_shipped_on_time", message="Please cancel, it has not shipped.")


async def test_cancel_request_then_seller_approves(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(cancel_case("3042417938137200"))

    assert await rig.engine.run_case(case, WORKER) is CaseState.SUBMITTED
    assert rig.count("3042417938137200") == 1
    events = [e.kind for e in rig.store.cases.history(case.id)]
    assert events.index("submit_intent") < events.index("submitted")

    case_dir = rig.engine.case_dir(case.id)
    assert verify_manifest(case_dir) == []
    assert (case_dir / "report.html").read_text().count("3042417938137200") >= 1
    assert any(p.suffix == ".jpg" for p in case_dir.iterdir())  # screenshots are JPEG by default

    rig.sb.admin.advance(3700)  # the scenario's seller approves after an hour
    submitted = rig.store.cases.get(case.id)
    result = await rig.engine.check_account("ann", [submitted])
    assert result.moved[case.id] is CaseState.APPROVED
    assert rig.count("3042417938137200") == 1


async def test_seller_rejects_cancellation(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(cancel_case("3042417938137201"))
    assert await rig.engine.run_case(case, WORKER) is CaseState.SUBMITTED
    rig.sb.admin.advance(3700)
    result = await rig.engine.check_account("ann", [rig.store.cases.get(case.id)])
    assert result.moved[case.id] is CaseState.REJECTED


async def test_refund_with_evidence(rig: Rig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    folder = tmp_path / "input"
    folder.mkdir()
    for i in range(3):
        (folder / f"photo{i}.png").write_bytes(png_bytes(10 + i, 10))
    case = rig.claimed(NewCase(
        account="ann", order_id="3042417938137300", kind=CaseKind.REFUND, reason="not_received",
        message="Tracking shows returned to sender.", refund_type=RefundType.REFUND_ONLY,
        amount=Decimal("4.10"), currency="USD", evidence_folder=str(folder)))

    assert await rig.engine.run_case(case, WORKER) is CaseState.SUBMITTED
    assert rig.count("3042417938137300") == 1
    case_dir = rig.engine.case_dir(case.id)
    assert verify_manifest(case_dir) == []
    stored = rig.store.evidence.list_for(case.id)
    assert sum(1 for e in stored if e.kind == "upload") == 3
    assert any(e.kind == "html" for e in stored)

    rig.sb.admin.advance(7300)  # the seller accepts after two hours
    result = await rig.engine.check_account("ann", [rig.store.cases.get(case.id)])
    assert result.moved[case.id] in (CaseState.APPROVED, CaseState.REFUNDED)


async def test_not_eligible_fails_without_a_click(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(cancel_case("3042417938137300"))  # shipped: no cancellation possible
    assert await rig.engine.run_case(case, WORKER) is CaseState.FAILED
    assert rig.count("3042417938137300") == 0
    assert "cannot be canceled" in (rig.store.cases.get(case.id).outcome_note or "")
    case_dir = rig.engine.case_dir(case.id)
    assert verify_manifest(case_dir) == []
    stored = rig.store.evidence.list_for(case.id)
    # issue 10: a first attempt records no trace; its failure still leaves the page it failed on
    assert [e.kind for e in stored].count("trace") == 0
    assert sorted(e.kind for e in stored if e.step == "failure") == ["html", "screenshot"]
    failure_html = next(e for e in stored if e.step == "failure" and e.kind == "html")
    text = (case_dir / failure_html.path).read_text()
    assert "3042417938137300" in text  # the order's detail page, as it was
    password = next(a.password for a in rig.sb.scenario.accounts if a.email == "ann@buyer.test")
    assert password not in text


async def test_a_failed_retry_keeps_its_trace_in_the_manifest(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9 / 10: an attempt after a failed one records a trace; when it fails too, the
    scrubbed trace is in the case folder and its manifest, next to the failure capture."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(cancel_case("3042417938137404"))  # closed: no cancellation possible
    retry = case.model_copy(update={"attempts": 1})  # as the store hands out a retried case
    assert rig.engine.traced(retry) and not rig.engine.traced(case)
    assert await rig.engine.run_case(retry, WORKER) is CaseState.FAILED
    assert rig.count("3042417938137404") == 0
    case_dir = rig.engine.case_dir(case.id)
    assert verify_manifest(case_dir) == []
    kinds = [e.kind for e in rig.store.evidence.list_for(case.id)]
    assert kinds.count("trace") == 1 and kinds.count("html") >= 1
    password = next(a.password for a in rig.sb.scenario.accounts if a.email == "ann@buyer.test")
    [trace] = case_dir.glob("*-failure-trace.zip")
    with zipfile.ZipFile(trace) as archive:
        assert all(password.encode() not in archive.read(n) for n in archive.namelist())


@pytest.mark.parametrize(("policy", "attempts", "traced"), [
    ("retries", 0, False), ("retries", 1, True), ("always", 0, True), ("never", 3, False)])
def test_trace_policy(tmp_path: Path, policy: str, attempts: int, traced: bool) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, trace_sessions=policy)  # type: ignore[arg-type]
    case = SimpleNamespace(attempts=attempts, session_attempts=0)
    assert Engine.traced(SimpleNamespace(settings=settings), case) is traced  # type: ignore[arg-type]


async def test_challenge_parks_case_for_a_human(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.add_account("erik@buyer.test", "erik", monkeypatch)
    erik = next(a for a in rig.sb.scenario.accounts if a.email == "erik@buyer.test")
    order = next(o for o in erik.orders if o.status in ("awaiting_shipment", "awaiting_payment"))
    case = rig.claimed(cancel_case(order.id, account="erik"))
    assert await rig.engine.run_case(case, WORKER) is CaseState.NEEDS_HUMAN
    assert rig.count(order.id) == 0
    shots = list(rig.engine.case_dir(case.id).glob("*.jpg"))
    assert shots, "a challenge leaves a screenshot"


async def click_as_the_crashed_worker(rig: Rig, order_id: str) -> None:
    """The cancellation click that landed before the crash, made by a separate browser session
    signed in as ann (the case's intent is already written by the caller)."""
    acc = next(a for a in rig.sb.scenario.accounts if a.email == "ann@buyer.test")
    env = FlowEnv(load_pack(rig.settings), rig.settings)
    async with rig.browser.session("crashed-worker") as context:
        page = await context.new_page()
        await log_in(page, env, Credentials(email=acc.email, password=acc.password))
        await cancel_order(page, env, order_id, reason="not_shipped_on_time", comment=None,
                           before_submit=nothing_to_record)


async def test_crash_after_click_is_reconciled_without_a_second_submit(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, browser: object) -> None:
    """The intent was written and the click landed, then the worker died before recording it."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(cancel_case("3042417938137202"))
    rig.store.cases.mark_submit_intent(case.id, WORKER)
    await click_as_the_crashed_worker(rig, "3042417938137202")
    assert rig.count("3042417938137202") == 1

    leftover = rig.store.cases.get(case.id)
    assert leftover.state is CaseState.SUBMITTING
    assert await rig.engine.run_case(leftover, WORKER) is CaseState.SUBMITTED
    assert rig.count("3042417938137202") == 1
    assert "reconciled" in [e.kind for e in rig.store.cases.history(case.id)]


async def test_crash_after_click_then_seller_refusal_is_not_submitted_again(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The click landed, the worker died, and the seller refused before the restart: the order
    looks as before the request, only the refusal note tells. Nothing is sent a second time."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    order = "3042417938137201"  # the seller refuses after an hour
    case = rig.claimed(cancel_case(order))
    rig.store.cases.mark_submit_intent(case.id, WORKER)
    await click_as_the_crashed_worker(rig, order)
    rig.sb.admin.advance(3700)
    assert rig.sb.admin.order(order)["status"] == "awaiting_shipment"

    assert await rig.engine.run_case(rig.store.cases.get(case.id), WORKER) is CaseState.SUBMITTED
    assert rig.count(order) == 1
    assert "reconciled" in [e.kind for e in rig.store.cases.history(case.id)]


async def test_crash_before_click_submits_exactly_once(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The intent was written but the worker died before clicking: the page shows no request."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(cancel_case("3042417938137135"))
    rig.store.cases.mark_submit_intent(case.id, WORKER)
    assert await rig.engine.run_case(rig.store.cases.get(case.id), WORKER) is CaseState.SUBMITTED
    assert rig.count("3042417938137135") == 1


async def test_order_count_feeds_the_dispute_cap(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    ann = next(a for a in rig.sb.scenario.accounts if a.email == "ann@buyer.test")
    assert await rig.engine.count_orders("ann") == len(ann.orders)
    assert rig.store.tracking.account_pace("ann").orders_seen == len(ann.orders)


def _pages(rig: Rig, email: str) -> int:
    loads = rig.sb.admin.page_loads()
    return loads.get(email, {}).get("page", 0) + loads.get("", {}).get("page", 0)


async def test_a_warm_context_serves_the_accounts_next_cases(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service keeps an account's context warm: its next case reuses the context and page
    and skips the sign-in check (no My Orders load); when the portal dropped the session
    meanwhile, the flow's first page bounces, the engine signs in again and the order is still
    submitted once. A session that fails is never parked."""
    rig.browser.warm_seconds = 60
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    first = rig.claimed(cancel_case("3042417938137200"))
    assert await rig.engine.run_case(first, WORKER) is CaseState.SUBMITTED
    assert rig.browser.warm_accounts == {"ann"} and rig.browser.contexts_opened == 1

    before = _pages(rig, "ann@buyer.test")
    second = rig.claimed(cancel_case("3042417938137201"))
    assert await rig.engine.run_case(second, WORKER) is CaseState.SUBMITTED
    warm_pages = _pages(rig, "ann@buyer.test") - before
    assert rig.browser.contexts_opened == 1  # the same context served the second case

    rig.sb.admin.expire_session("ann@buyer.test")  # the portal forgets the warm session
    third = rig.claimed(cancel_case("3042417938137202"))
    assert await rig.engine.run_case(third, WORKER) is CaseState.SUBMITTED
    assert rig.browser.contexts_opened == 1  # reused, and signed in again inside it

    shipped = rig.claimed(cancel_case("3042417938137300"))  # not eligible: the session raises
    assert await rig.engine.run_case(shipped, WORKER) is CaseState.FAILED
    assert rig.browser.warm_accounts == set()  # a session that raised is never parked

    rig.browser.warm_seconds = 0  # the old way, for comparison: a new context and a sign-in check
    before = _pages(rig, "ann@buyer.test")
    fourth = rig.claimed(cancel_case("3042417938137135"))
    assert await rig.engine.run_case(fourth, WORKER) is CaseState.SUBMITTED
    cold_pages = _pages(rig, "ann@buyer.test") - before
    assert rig.browser.contexts_opened == 2 and rig.browser.warm_accounts == set()
    assert warm_pages < cold_pages  # the sign-in check's My Orders load is gone
    for order in ("3042417938137200", "3042417938137201", "3042417938137202", "3042417938137135"):
        assert rig.count(order) == 1
    assert rig.count("3042417938137300") == 0
