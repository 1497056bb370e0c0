"""Creating a case from the command line and running it now (or queueing it for the service).

Order of work, so that bad input never leaves anything behind: validate the input (order id,
amount, reason against the pack, account, evidence files, duplicates); then hold the account
(:func:`bot.oneoff.hold_account`: waits up to `account_wait_seconds` while another process
runs one of its cases); then — for a refund, run now or `--queue` — read the order's card on the
portal and refuse an item line it does not have (`--item`) or an amount above that line's price
(else the order total; or one in another currency), and only then create the case
with :func:`bot.cases.create_case` (all or nothing). Then run it once, unless the service is
running, approve-first holds it, or `--queue` was given.

A one-off never drives an account's browser it does not hold: while the service runs, or when the
account stays busy, the case is only queued (the amount then is checked by the engine right
before the submit, see :meth:`bot.engine.Engine.run_case`) and the command says so — `"ran":
false, "queued": true`, and exit 8 when it was meant to run now (0 with `--queue`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer

from bot.cases import create_case
from bot.cli.common import Command, ExitCode, Out, case_dict, exit_code_for_run, state_style
from bot.cli.handoff import next_step
from bot.config import Settings
from bot.display import line, shown
from bot.errors import InputError, PackError, PortalRefusalError, RecoupError
from bot.evidence_input import check_evidence_with_settings
from bot.models import Case, CaseKind, NewCase
from bot.oneoff import check_amount, hold_account
from bot.runtime import Runtime, open_runtime, service_running
from bot.states import CaseState
from bot.store import Store
from flows.registry import PackRegistry


def validate(store: Store, settings: Settings, new: NewCase, evidence: Sequence[Path]) -> None:
    """Every check that needs no portal; raises an InputError subclass, writes nothing. The
    reason and the evidence files (types, sizes, count) are checked against the pack of the
    account's portal (PackError for a bad pack)."""
    account = store.accounts.get(new.account)
    pack = PackRegistry(settings).for_account(account)
    try:
        if new.kind is CaseKind.CANCEL:
            pack.cancel_reason_labels(new.reason)
        else:
            pack.refund_reason_labels(new.reason)
    except PackError as exc:
        raise InputError(f"reason: {exc}") from None
    check_evidence_with_settings(
        list(evidence), settings, pack.model.evidence, allowed_root=settings.evidence_input_dir
    )
    existing = store.cases.find(new.account, new.order_id, new.kind)
    if existing is not None:
        raise store.intake._duplicate(new, existing.id)


def submit(cmd: Command, raw: dict[str, Any], evidence: Sequence[Path], *, queue_only: bool) -> None:
    """Validate, create and (normally) run the case; print the outcome; exit with its code."""
    new = NewCase.parse(raw)
    validate(cmd.store, cmd.settings, new, evidence)
    asyncio.run(_submit(cmd.out, cmd.settings, cmd.store, new, evidence, queue_only=queue_only))


UNCHECKED = "the amount is checked against the order total right before the submit"


def _unchecked(new: NewCase) -> str:
    """What the engine checks before the submit when intake could not read the order."""
    if new.item_line is None:
        return UNCHECKED
    return f"the amount is checked against item line {new.item_line}'s price right before the submit"


async def _submit(
    out: Out,
    settings: Settings,
    store: Store,
    new: NewCase,
    evidence: Sequence[Path],
    *,
    queue_only: bool,
) -> None:
    def create() -> Case:
        return create_case(store, settings, new, evidence=list(evidence))

    amount = new.amount if new.kind is CaseKind.REFUND else None
    if service_running(store):  # the service may be driving this account's browser right now
        case = await asyncio.to_thread(create)
        note = "queued: the running service will pick it up" + (f"; {_unchecked(new)}" if amount else "")
        report(out, case, None, ran=False, note=_approval(case) or note)
        return
    if queue_only and amount is None:
        case = await asyncio.to_thread(create)
        report(out, case, None, ran=False, note=_approval(case) or "queued (--queue)")
        return
    async with open_runtime(settings, store) as rt:
        wait = 0.0 if queue_only else settings.account_wait_seconds
        async with hold_account(store, settings, new.account, wait_seconds=wait, say=_say(out)) as hold:
            if not hold.held:
                case = await asyncio.to_thread(create)
                note = f"account {new.account} is busy ({hold.busy_with}): {_queued_note(store)}"
                note += f"; {_unchecked(new)}" if amount else ""
                report(out, case, None, ran=False, note=_approval(case) or note,
                       code=ExitCode.OK if queue_only else ExitCode.QUEUED)  # fmt: skip
                return
            deferred: str | None = None
            if amount is not None:
                try:
                    await check_amount(rt, new.account, new.order_id, amount, new.currency,
                                       item_line=new.item_line)
                except (InputError, PortalRefusalError):
                    raise  # bad amount, unknown order: nothing written
                except RecoupError as exc:
                    if not queue_only:
                        raise
                    deferred = f"the order could not be read ({exc.message}); {_unchecked(new)}"
            case = await asyncio.to_thread(create)
            if queue_only or case.state is not CaseState.QUEUED:
                report(out, case, None, ran=False, note=_approval(case) or deferred or "queued (--queue)")
                return
            await run_and_report(out, rt, case.id)


def _approval(case: Case) -> str | None:
    if case.state is CaseState.AWAITING_APPROVAL:
        return "awaiting approval: `recoup cases approve`"
    return None


def _queued_note(store: Store) -> str:
    """What happens to a case left queued: picked up by the service, or nothing until one runs."""
    if service_running(store):
        return "queued, not run; the running service will pick it up"
    return "queued, not run; no service is running to pick it up (start `recoup run`)"


def _say(out: Out) -> Callable[[str], None]:
    """A message for the person on stderr (plain text: names are never read as markup)."""
    return lambda text: out.err.print(text, markup=False, highlight=False)


async def run_and_report(out: Out, rt: Runtime, case_id: int) -> None:
    """Run a queued case once (the caller holds its account) and print how it ended (exits with
    its code; 8 when someone else held the case or its account after all)."""
    outcome = await rt.run_case(case_id)
    if not outcome.ran:
        report(out, outcome.case, None, ran=False, note=_queued_note(rt.store), code=ExitCode.QUEUED)
        return
    path = rt.engine.case_dir(case_id) / "report.html"
    report(out, outcome.case, outcome.error, ran=True, report_path=path)


def report(
    out: Out,
    case: Case,
    error: str | None,
    *,
    ran: bool,
    note: str | None = None,
    report_path: Path | None = None,
    code: ExitCode | None = None,
) -> None:
    """Print the case's outcome and exit with the code its state maps to (or `code`)."""
    if code is None:
        code = exit_code_for_run(case, error) if ran else ExitCode.OK
    payload = {
        **case_dict(case),
        "ran": ran,
        "queued": case.state is CaseState.QUEUED,
        "last_error": error,
        "exit_code": int(code),
        "note": note,
        "report": str(report_path) if report_path and report_path.exists() else None,
        "next": next_step(case, error, report_path.parent if report_path else None) if ran else None,
    }

    def human() -> None:
        out.console.print(
            line(
                f"Case {case.id}: {case.kind.value} of order {case.order_id} on {case.account} → ",
                shown(case.state.value, state_style(case.state)),
            )
        )
        if case.item_line is not None:
            out.console.print(line(f"  item line {case.item_line}"))
        if note:
            out.console.print(line(f"  {note}"))
        if case.outcome_note:
            out.console.print(line(f"  {case.outcome_note}"))
        if payload["report"]:
            out.console.print(line(f"  report: {payload['report']}"))
        if payload["next"]:
            out.console.print(line(f"  next: {payload['next']}"))

    out.data(payload, human)
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def run_existing(cmd: Command, case_id: int, *, queue_only: bool) -> None:
    """Run a case that is queued now (after approve / retry), unless the service runs it; a busy
    account is waited for like in :func:`submit` (exit 8 when it stays busy)."""
    out, settings, store = cmd.out, cmd.settings, cmd.store
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
        async with (
            open_runtime(settings, store) as rt,
            hold_account(
                store, settings, case.account, wait_seconds=settings.account_wait_seconds, say=_say(out)
            ) as hold,
        ):
            if not hold.held:
                note = f"account {case.account} is busy ({hold.busy_with}): {_queued_note(store)}"
                report(out, case, None, ran=False, note=note, code=ExitCode.QUEUED)
                return
            await run_and_report(out, rt, case_id)

    asyncio.run(go())
