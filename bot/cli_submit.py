"""Creating a case from the command line and running it now (or queueing it for the service).

Order of work, so that bad input never leaves anything behind: validate the input (order id,
amount, reason against the pack, account, evidence files, duplicates), then — for a refund run
now — read the order's total on the portal and refuse a larger amount, and only then create the
case with :func:`bot.cases.create_case` (all or nothing). Then run it once, unless the service
is running, approve-first holds it, or `--queue` was given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from bot.cases import create_case
from bot.cli_common import ExitCode, Out, case_dict, exit_code_for_run, state_style
from bot.cli_runtime import Runtime, check_amount, run_now, runtime, service_running
from bot.config import Settings
from bot.display import line, shown
from bot.errors import InputError, PackError
from bot.evidence_input import check_evidence_with_settings
from bot.models import Case, CaseKind, NewCase
from bot.states import CaseState
from bot.store import Store
from flows.pack import load_pack


def validate(store: Store, settings: Settings, new: NewCase, evidence: Sequence[Path]) -> None:
    """Every check that needs no portal; raises an InputError subclass, writes nothing."""
    pack = load_pack(settings)
    try:
        if new.kind is CaseKind.CANCEL:
            pack.cancel_reason_labels(new.reason)
        else:
            pack.refund_reason_labels(new.reason)
    except PackError as exc:
        raise InputError(f"reason: {exc}") from None
    store.accounts.get(new.account)
    check_evidence_with_settings(list(evidence), settings, allowed_root=settings.evidence_input_dir)
    existing = store.cases.find(new.account, new.order_id, new.kind)
    if existing is not None:
        raise store.intake._duplicate(new, existing.id)


def submit(
    out: Out,
    settings: Settings,
    store: Store,
    raw: dict[str, Any],
    evidence: Sequence[Path],
    *,
    queue_only: bool,
) -> None:
    """Validate, create and (normally) run the case; print the outcome; exit with its code."""
    new = NewCase.parse(raw)
    validate(store, settings, new, evidence)
    queued_for_service = service_running(store)
    run = not (queue_only or queued_for_service)
    asyncio.run(_submit(out, settings, store, new, evidence, run=run, service=queued_for_service))


async def _submit(
    out: Out,
    settings: Settings,
    store: Store,
    new: NewCase,
    evidence: Sequence[Path],
    *,
    run: bool,
    service: bool,
) -> None:
    if not run:
        case = await asyncio.to_thread(create_case, store, settings, new, evidence=list(evidence))
        why = "the running service will pick it up" if service else "queued (--queue)"
        report(
            out, case, None, ran=False, note=why if case.state is CaseState.QUEUED else "awaiting approval"
        )
        return
    async with runtime(settings, store) as rt:
        if new.kind is CaseKind.REFUND and new.amount is not None:
            await check_amount(rt, new.account, new.order_id, new.amount, new.currency or "USD")
        case = await asyncio.to_thread(create_case, store, settings, new, evidence=list(evidence))
        if case.state is not CaseState.QUEUED:
            report(out, case, None, ran=False, note="awaiting approval: `recoup cases approve`")
            return
        await run_and_report(out, rt, case.id)


async def run_and_report(out: Out, rt: Runtime, case_id: int) -> None:
    """Run a queued case once and print how it ended (exits with its code)."""
    case, error = await run_now(rt, case_id)
    report(out, case, error, ran=True, report_path=rt.engine.case_dir(case.id) / "report.html")


def report(
    out: Out,
    case: Case,
    error: str | None,
    *,
    ran: bool,
    note: str | None = None,
    report_path: Path | None = None,
) -> None:
    """Print the case's outcome and exit with the code its state maps to."""
    code = exit_code_for_run(case, error) if ran else ExitCode.OK
    payload = {
        **case_dict(case),
        "ran": ran,
        "last_error": error,
        "exit_code": int(code),
        "note": note,
        "report": str(report_path) if report_path and report_path.exists() else None,
    }

    def human() -> None:
        out.console.print(
            line(
                f"Case {case.id}: {case.kind.value} of order {case.order_id} on {case.account} → ",
                shown(case.state.value, state_style(case.state)),
            )
        )
        if note:
            out.console.print(line(f"  {note}"))
        if case.outcome_note:
            out.console.print(line(f"  {case.outcome_note}"))
        if payload["report"]:
            out.console.print(line(f"  report: {payload['report']}"))

    out.data(payload, human)
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def run_existing(out: Out, settings: Settings, store: Store, case_id: int, *, queue_only: bool) -> None:
    """Run a case that is queued now (after approve / retry), unless the service runs it."""
    case = store.cases.get(case_id)
    if queue_only or service_running(store) or case.state is not CaseState.QUEUED:
        report(
            out,
            case,
            None,
            ran=False,
            note="queued for the running service" if service_running(store) else None,
        )
        return

    async def go() -> None:
        async with runtime(settings, store) as rt:
            await run_and_report(out, rt, case_id)

    asyncio.run(go())
