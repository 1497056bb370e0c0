"""The one place that runs a case, or one account's status check, from start to end.

`Engine.run_case` is called with a case its caller has leased (state `running`, or
`submitting` after a crash). It signs in (stored session first), runs the cancel or refund flow,
and records the outcome in the store:

* the submit intent is written by the flow's `before_submit` hook right before the one
  irreversible click (`running → submitting`); only a confirmed page moves it to `submitted`;
* a case found in `submitting` is reconciled: the flow re-reads the order first and, when the
  portal already shows the request, raises AlreadyRequestedError: the case becomes `submitted`
  without any click; only when the page shows no request is the form filled again;
* a refund's amount is checked against the order (My Orders) before its form is opened, however
  the case was created (:func:`flows.orders.check_order_refund`: the price of the case's item
  line when the card prints one, else the total): above it, or a line the order does not have,
  the case fails; a price in another currency parks it for a human;
* every failure is a typed error whose `action` decides, through the one failure policy
  (:func:`bot.states.after_failure`, applied by the store with the attempt record): retry (back
  to `queued` with backoff), re-login (the session budget), needs a human, reconcile an
  unconfirmed submit, fix the configuration (`needs_human`, no budget spent: the account's
  secrets are resolved before the browser opens, so a missing one parks the case with nothing
  clicked), give up (`failed`), or stop at once (the lease is lost: nothing written).

`Engine.check_account` reads the statuses of one account's open cases in ONE browser session
and moves each case by what the portal shows (see :mod:`bot.outcomes`); a seller's
counter-proposal is answered by the offer policy in the same session.

Every run leaves the case folder with screenshots, HTML, a sha256 manifest and `report.html`.
A failed run also leaves a screenshot and the HTML of the page it failed on (step "failure"),
and, when it recorded one, its scrubbed Playwright trace: by `settings.trace_sessions` a trace
is recorded only for a retry (:meth:`Engine.traced`), since recording one costs about as much
as running the case.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from loguru import logger
from playwright.async_api import Page

from bot.browser import BrowserManager
from bot.config import Settings
from bot.errors import (
    AlreadyRequestedError,
    InvalidTransitionError,
    RecoupError,
    RunnerCrashedError,
    StaleStateError,
)
from bot.evidence import EvidenceRecorder
from bot.failpoints import failpoint
from bot.models import Account, Case, CaseKind, NewEvidence, RefundType
from bot.outcomes import Verdict, judge
from bot.report import ReportCase, render_case_report
from bot.sessions import SessionOpener
from bot.states import CaseState
from bot.store import Store
from bot.timing import Stopwatch
from flows.cancel import cancel_order
from flows.env import FlowEnv
from flows.login import CodeSource, Credentials
from flows.offer import OfferAnswer, OfferPolicy, answer_offer
from flows.orders import check_order_refund, find_order
from flows.pack import Pack
from flows.refund import RefundRequest, request_refund
from flows.registry import PackRegistry
from flows.results import OrderState
from flows.scan import count_orders, scan_statuses

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CheckResult:
    """What one status check saw and did: case id → the state it moved to (or kept)."""

    account: str
    seen: dict[int, OrderState | None]
    moved: dict[int, CaseState]


class Engine:
    """Runs cases and status checks with injected parts (store, browser, pack, code source, clock)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        browser: BrowserManager,
        pack: Pack | PackRegistry,
        code_source: CodeSource | None,
        clock: Clock,
        offer_policy: OfferPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.browser = browser
        self.packs = pack if isinstance(pack, PackRegistry) else PackRegistry.of(settings, pack)
        """Packs by portal: each account's cases run with its own portal's pack."""
        self.code_source = code_source
        self.sessions = SessionOpener(settings, browser, self.packs, code_source)
        """Opens every signed-in portal session this engine drives."""
        self.clock = clock
        self.offer_policy = offer_policy or OfferPolicy()

    # ---- paths and secrets ----------------------------------------------------------------
    def case_dir(self, case_id: int) -> Path:
        """The case's evidence folder (screenshots, HTML, traces, manifest, report)."""
        return self.settings.evidence_dir / f"case-{case_id}"

    def recorder(self, case_id: int) -> EvidenceRecorder:
        """The case's evidence recorder, screenshots in the settings' format."""
        return EvidenceRecorder(self.case_dir(case_id), clock=self.clock,
                                image_type=self.settings.evidence_image_type,
                                quality=self.settings.evidence_jpeg_quality)

    def traced(self, case: Case) -> bool:
        """Does this run of `case` record a Playwright trace (kept only if the run fails)?
        By `settings.trace_sessions`: `retries` (default) only when an earlier attempt failed
        (the case's `attempts` or `session_attempts` > 0), `always`, `never`. A failed run
        leaves a screenshot and the HTML of its last page either way."""
        policy = self.settings.trace_sessions
        if policy == "retries":
            return case.attempts + case.session_attempts > 0
        return policy == "always"

    def credentials(self, account: Account) -> Credentials:
        """The account's resolved credentials (:meth:`bot.sessions.SessionOpener.credentials`)."""
        return self.sessions.credentials(account)

    # ---- running one case -----------------------------------------------------------------
    async def run_case(self, case: Case, worker: str) -> CaseState:
        """Run a leased case once and return the state it ends in.

        Never raises for portal, session or input failures: they are recorded as an attempt and
        decide the next state. Raises only when the store itself fails (StoreUnavailableError)
        or the lease was lost (LeaseLostError): then nothing more is written for this case.
        """
        started = self.clock()
        watch = Stopwatch(f"case {case.id}")
        account = await asyncio.to_thread(self.store.accounts.get, case.account)
        case_dir = self.case_dir(case.id)
        recorder = self.recorder(case.id)
        trace_dir = case_dir if self.traced(case) else None
        try:
            self._record_inputs(case, recorder)
            watch.lap("inputs")
            async with self.sessions.open(account, evidence=recorder, trace_dir=trace_dir) as session:
                watch.lap("open")
                state = await session.run(
                    lambda: self._submit(session.page, session.env, case, worker, watch)
                )
                watch.lap("recorded")
        except AlreadyRequestedError as exc:
            state = await self._already_requested(case, worker, exc)
        except RecoupError as exc:
            state = await self._failed(case, worker, started, exc)
        except Exception as exc:  # a bug: park the case, keep the message, never retry blindly
            logger.exception("case {}: unexpected failure", case.id)
            state = await self._failed(case, worker, started, RunnerCrashedError(f"unexpected: {exc!r}"))
        finally:
            try:
                await recorder.flush()  # captures still being written in the background
            except OSError as exc:
                logger.warning("case {}: evidence not fully written: {}", case.id, exc)
            try:
                await asyncio.to_thread(recorder.adopt_traces)  # a failed session's trace joins the manifest
            except OSError as exc:
                logger.warning("case {}: failure trace not recorded: {}", case.id, exc)
            watch.lap("close")
            await self._keep_evidence(case, recorder, watch)
            watch.log()
        return state

    def _record_inputs(self, case: Case, recorder: EvidenceRecorder) -> None:
        """Copy the operator's evidence files into the manifest once (hashes in the report)."""
        known = {item.sha256 for item in recorder.items if item.kind == "upload"}
        for path in self._evidence_files(case):
            if _sha256(path) not in known:
                recorder.add_file(path, kind="upload", step="input")

    @staticmethod
    def _evidence_files(case: Case) -> list[Path]:
        if not case.evidence_folder:
            return []
        folder = Path(case.evidence_folder)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))

    async def _submit(
        self, page: Page, env: FlowEnv, case: Case, worker: str, watch: Stopwatch | None = None
    ) -> CaseState:
        """Run the case's flow; the intent is written right before the irreversible click."""
        watch = watch or Stopwatch(f"case {case.id}")
        watch.lap("login")
        current = await asyncio.to_thread(self.store.cases.get, case.id)
        if current.state is CaseState.SUBMITTING:
            logger.info("case {}: reconciling an earlier submit by reading the portal first", case.id)

        intent: dict[str, object] = {"kind": case.kind.value}

        async def before_submit() -> None:
            latest = await asyncio.to_thread(self.store.cases.get, case.id)
            if latest.state is CaseState.SUBMITTING:
                return  # the intent of an earlier attempt stands; the page showed no request
            await asyncio.to_thread(self.store.cases.mark_submit_intent, case.id, worker, detail=intent)
            failpoint("submit.before_click")

        detail: dict[str, object]
        if case.kind is CaseKind.CANCEL:
            cancel = await cancel_order(
                page, env, case.order_id, reason=case.reason, comment=case.message or None,
                before_submit=before_submit, earlier_intent=current.state is CaseState.SUBMITTING,
            )
            submitted = cancel.submitted
            detail = {"mode": cancel.mode, "status_before": cancel.status_before.value,
                      "status_after": cancel.status_after.value, "status_text": cancel.status_text}
        else:
            if current.state is not CaseState.SUBMITTING:  # reconciling reads the page, never refuses
                await self._check_amount(page, env, case)
            request = await asyncio.to_thread(self._refund_request, case, current.state)
            refund = await request_refund(page, env, request, before_submit=before_submit,
                                          line_chosen=lambda index: intent.update(item_index=index))
            submitted = refund.submitted
            detail = {"refund_status": refund.refund_status.value, "refund_text": refund.refund_text,
                      "uploaded": refund.uploaded, "item_index": refund.item_index}
        watch.lap("flow")
        if submitted:
            failpoint("submit.after_click")
        if not submitted:  # dry run: the plan was read, nothing clicked
            moved = await asyncio.to_thread(
                self.store.cases.transition, case.id, CaseState.NEEDS_HUMAN,
                expected_from=CaseState.RUNNING, owner=worker, kind="dry_run",
                detail={**detail, "dry_run": True}, outcome_note="dry run: ready to submit, nothing sent",
            )
            return moved.state
        moved = await asyncio.to_thread(
            self.store.cases.transition, case.id, CaseState.SUBMITTED,
            expected_from=CaseState.SUBMITTING, owner=worker, kind="submitted", detail=detail,
        )
        logger.info("case {}: submitted ({})", case.id, case.kind.value)
        return moved.state

    async def _check_amount(self, page: Page, env: FlowEnv, case: Case) -> None:
        """The pre-submit amount check, for every refund case however it was created (a queued
        case whose total could not be read at intake, a case created while the service ran):
        read the order's card in My Orders and apply :func:`flows.orders.check_order_refund`
        (the case's item line's price when the card prints per-line prices, else the order
        total) before the refund form is opened, so nothing is clicked on a bad amount.
        AmountError ("amount above ...") or InputError (no such item line) fails the case;
        CurrencyMismatchError parks it for a human."""
        if case.amount is None:
            return
        card = await find_order(page, env, case.order_id)
        limit = check_order_refund(card, case.amount, case.currency, item_line=case.item_line)
        within = f"item line {case.item_line}'s price" if case.item_line else "the order total"
        logger.info("case {}: amount {} within {} {}", case.id, case.amount, within, limit)

    def _refund_request(self, case: Case, state: CaseState) -> RefundRequest:
        """The flow's request. Each line of an order takes its own request. A case that names its
        item line (`Case.item_line`, 1-based) is pinned to it, in every attempt and reconcile;
        else the flow picks the first line without one, and a case reconciling an earlier submit
        is pinned to the line its intent recorded (no line recorded: any request on the order
        counts as its own). The flow counts lines from 0."""
        folder = Path(case.evidence_folder) if case.evidence_folder else self.case_dir(case.id)
        if case.item_line is not None:
            pinned: int | None = case.item_line - 1
        else:
            pinned = self._intended_line(case.id) if state is CaseState.SUBMITTING else None
        return RefundRequest(
            order_id=case.order_id,
            reason=case.reason,
            description=case.message,
            evidence=self._evidence_files(case),
            evidence_root=folder,
            refund_type=case.refund_type or RefundType.REFUND_ONLY,
            amount=case.amount,
            item_index=pinned,
            reconcile=state is CaseState.SUBMITTING and pinned is None,
        )

    def _intended_line(self, case_id: int) -> int | None:
        """The item line the case's latest submit intent recorded, or None."""
        intents = [e for e in self.store.cases.history(case_id) if e.kind == "submit_intent"]
        line = intents[-1].detail.get("item_index") if intents else None
        return line if isinstance(line, int) else None

    async def _already_requested(self, case: Case, worker: str, exc: AlreadyRequestedError) -> CaseState:
        """The portal already shows the request: track it, submit nothing."""
        current = await asyncio.to_thread(self.store.cases.get, case.id)
        detail = {"found_on_portal": exc.message, **{k: str(v) for k, v in exc.context.items()}}
        if current.state not in (CaseState.RUNNING, CaseState.SUBMITTING):
            return current.state
        moved = await asyncio.to_thread(
            self.store.cases.transition, case.id, CaseState.SUBMITTED,
            expected_from=current.state, owner=worker, kind="reconciled", detail=detail,
        )
        logger.info("case {}: the portal already shows the request; tracking it", case.id)
        return moved.state

    async def _failed(self, case: Case, worker: str, started: datetime, error: RecoupError) -> CaseState:
        """Record the attempt; the store moves the case as the one failure policy decides
        (:func:`bot.states.after_failure`), in the same transaction. A lost lease (STOP) writes
        nothing and re-raises LeaseLostError to the caller."""
        logger.warning("case {}: {} ({})", case.id, type(error).__name__, error.action.value)
        after = await asyncio.to_thread(
            self.store.cases.record_failure, case.id, worker=worker, started_at=started, error=error,
            owner=worker,
        )
        return after.state

    async def _keep_evidence(
        self, case: Case, recorder: EvidenceRecorder, watch: Stopwatch | None = None
    ) -> None:
        """Store the evidence records and refresh the case's HTML report (never raises)."""
        watch = watch or Stopwatch(f"case {case.id}")
        try:
            known = {e.path for e in await asyncio.to_thread(self.store.evidence.list_for, case.id)}
            for item in recorder.items:
                if item.path in known:
                    continue
                await asyncio.to_thread(
                    self.store.evidence.add, case.id,
                    NewEvidence(path=item.path, sha256=item.sha256, kind=item.kind, step=item.step,
                                url=item.url, captured_at=item.captured_at),
                )
            watch.lap("evidence rows")
            await asyncio.to_thread(self.write_report, case.id)
            watch.lap("report")
        except (RecoupError, OSError) as exc:
            logger.warning("case {}: evidence bookkeeping failed: {}", case.id, exc)

    def write_report(self, case_id: int) -> Path:
        """Render `report.html` for the case from the store and its manifest."""
        from bot.evidence import load_manifest

        case = self.store.cases.get(case_id)
        case_dir = self.case_dir(case_id)
        events = [
            (e.at, e.from_state.value if e.from_state else None, e.to_state.value,
             _event_text(e.kind, e.detail))
            for e in self.store.cases.history(case_id)
            if e.kind != "attempt" or e.detail.get("error_type")
        ]
        report_case = ReportCase(
            case_id=str(case.id), account=case.account, order_id=case.order_id, kind=case.kind.value,
            state=case.state.value, reason=case.reason, amount=case.amount, currency=case.currency,
            item_line=case.item_line, refund_type=case.refund_type.value if case.refund_type else None,
            message=case.message,
            created_at=case.created_at, events=events, outcome=case.outcome_note,
            portal=self.packs.for_account(self.store.accounts.get(case.account)).model.portal,
        )
        items = load_manifest(case_dir) if (case_dir / "manifest.json").exists() else []
        return render_case_report(report_case, items, case_dir)

    # ---- status checks --------------------------------------------------------------------
    async def check_account(self, account_name: str, cases: list[Case]) -> CheckResult:
        """Read the portal status of `cases` (all of one account) in one session and move each
        case by what the page shows. Counter-proposals are answered by the offer policy.

        Raises the flows' typed errors (challenge, login, portal unavailable) for the caller to
        back off; cases are left untouched then.
        """
        account = await asyncio.to_thread(self.store.accounts.get, account_name)
        order_ids = [c.order_id for c in cases]
        refund_ids = [c.order_id for c in cases if c.kind is CaseKind.REFUND]
        moved: dict[int, CaseState] = {}
        async with self.sessions.open(account) as session:

            async def scan() -> dict[str, OrderState | None]:
                return await scan_statuses(session.page, session.env, order_ids, refund_ids=refund_ids)

            seen_by_order = await session.run(scan)
            for case in cases:
                seen = seen_by_order.get(case.order_id)
                if seen is None:
                    continue
                state = await self._apply_verdict(case, judge(case, seen), seen)
                if state is CaseState.COUNTER_OFFER:
                    state = await self._answer_offer(session.page, case, account.portal)
                moved[case.id] = state
        return CheckResult(account_name, {c.id: seen_by_order.get(c.order_id) for c in cases}, moved)

    async def count_orders(self, account_name: str) -> int:
        """Count the account's orders on the portal and store the figure (`orders_seen`), which
        the dispute-share cap needs before a refund case may be created. Raises the flows'
        typed errors (challenge, login, portal unavailable)."""
        account = await asyncio.to_thread(self.store.accounts.get, account_name)
        async with self.sessions.open(account) as session:
            total = await session.run(lambda: count_orders(session.page, session.env))
        await asyncio.to_thread(self.store.tracking.set_orders_seen, account_name, total)
        logger.info("account {}: {} orders on the portal", account_name, total)
        return total

    async def _apply_verdict(self, case: Case, verdict: Verdict, seen: OrderState) -> CaseState:
        current = await asyncio.to_thread(self.store.cases.get, case.id)
        if verdict.to_state is None or verdict.to_state is current.state:
            return current.state
        detail = {"status": seen.status.value, "status_text": seen.status_text,
                  "refund_status": seen.refund_status.value if seen.refund_status else None,
                  "refund_text": seen.refund_text, "why": verdict.why}
        try:
            updated = await asyncio.to_thread(
                self.store.cases.transition, case.id, verdict.to_state, expected_from=current.state,
                kind="status_check", detail=detail, outcome_note=verdict.why,
            )
        except (InvalidTransitionError, StaleStateError) as exc:
            logger.info("case {}: status {} not applied ({})", case.id, seen.status.value, exc)
            return current.state
        logger.info("case {}: {} → {} ({})", case.id, current.state.value, updated.state.value, verdict.why)
        await asyncio.to_thread(self.write_report, case.id)
        return updated.state

    async def _answer_offer(self, page: Page, case: Case, portal: str) -> CaseState:
        """Answer a counter-proposal by policy; a failure parks the case for a human."""
        recorder = self.recorder(case.id)
        env = self.packs.env(portal, evidence=recorder)
        asked = case.amount if case.amount is not None else Decimal("0")
        answer = OfferAnswer(order_id=case.order_id, asked=asked, message=case.message,
                             evidence=self._evidence_files(case),
                             evidence_root=Path(case.evidence_folder or self.case_dir(case.id)))
        try:
            result = await answer_offer(page, env, answer, self.offer_policy, before_submit=_no_intent)
        except RecoupError as exc:
            await self._keep_evidence(case, recorder)
            if isinstance(exc, AlreadyRequestedError):
                return (await asyncio.to_thread(self.store.cases.get, case.id)).state
            updated = await asyncio.to_thread(
                self.store.cases.transition, case.id, CaseState.NEEDS_HUMAN,
                expected_from=CaseState.COUNTER_OFFER, kind="offer_failed",
                detail={"error": type(exc).__name__, "message": exc.message}, outcome_note=exc.message,
            )
            return updated.state
        await self._keep_evidence(case, recorder)
        target = CaseState.APPROVED if result.decision == "accept" else CaseState.SUBMITTED
        updated = await asyncio.to_thread(
            self.store.cases.transition, case.id, target, expected_from=CaseState.COUNTER_OFFER,
            kind="offer_answered", outcome_amount=result.offered if result.decision == "accept" else None,
            detail={"decision": result.decision, "offered": str(result.offered), "asked": str(result.asked),
                    "refund_text": result.refund_text},
        )
        await asyncio.to_thread(self.write_report, case.id)
        return updated.state


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def _no_intent() -> None:
    """Answering an offer is repeatable on the portal's side (it refuses a second answer)."""


def _event_text(kind: str, detail: dict[str, object]) -> str:
    """A one-line, human-readable summary of an event for the report."""
    keep = ("why", "status_text", "refund_text", "mode", "decision", "offered", "error", "message",
            "found_on_portal", "owner", "dry_run")
    parts = [f"{k}: {detail[k]}" for k in keep if detail.get(k) not in (None, "")]
    return f"{kind}" + (f" — {'; '.join(parts)}" if parts else "")
