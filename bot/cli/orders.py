"""`recoup cancel`, `recoup refund`, `recoup status` and `recoup evidence`."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cli.common import Command, JsonOpt, Out, case_dict, opening, state_style
from bot.cli.submit import submit
from bot.display import line, shown
from bot.errors import AmountError, InputError, UnknownCaseError
from bot.evidence import check_manifest
from bot.models import Case, CaseKind, NewCase, RefundType, normalize_order_id
from bot.report import bundle_case
from bot.runtime import Runtime, open_runtime, service_running
from bot.states import OPEN_STATES, STATUS_CHECK_STATES
from flows.money import parse_amount

QueueOpt = Annotated[bool, typer.Option("--queue", help="Only queue the case; do not run it now.")]


def cancel(
    ctx: typer.Context,
    order: Annotated[str, typer.Argument(help="Order id (15-19 digits).")],
    account: Annotated[str, typer.Option(help="Account name.")],
    reason: Annotated[str, typer.Option(help="Cancel reason key of the pack, e.g. not_shipped_on_time.")],
    comment: Annotated[str, typer.Option(help="Optional note to the seller.")] = "",
    queue: QueueOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Cancel an order: run it now and print the outcome (queued instead while `recoup run` runs)."""
    raw = {"account": account, "order_id": order, "kind": CaseKind.CANCEL, "reason": reason,
           "message": comment}  # fmt: skip
    with Out(as_json).errors():
        NewCase.parse(raw)  # bad input is refused before anything exists on disk
    with opening(ctx, as_json) as cmd:
        submit(cmd, raw, [], queue_only=queue)


class RefundKind(StrEnum):
    """`--type` of `recoup refund`."""

    refund = "refund"
    ret = "return"


def _amount(text: str) -> tuple[Decimal, str | None]:
    """`12.50`, `12.50 EUR` → (amount, currency or None). AmountError when the amount is not a
    plain decimal (:func:`flows.money.parse_amount`: no exponent, underscores, NaN, ...)."""
    parts = text.strip().split()
    if not parts or len(parts) > 2:
        raise AmountError(f"amount {text!r} is not a number like 12.50")
    currency = parts[1].upper() if len(parts) > 1 else None
    return parse_amount(parts[0]), currency


def refund(
    ctx: typer.Context,
    order: Annotated[str, typer.Argument(help="Order id (15-19 digits).")],
    account: Annotated[str, typer.Option(help="Account name.")],
    reason: Annotated[str, typer.Option(help="Refund reason key of the pack, e.g. not_received.")],
    amount: Annotated[str, typer.Option(help="Amount asked, e.g. 12.50 (at most the order total).")],
    message: Annotated[str, typer.Option(help="Text to the seller.")],
    kind: Annotated[
        RefundKind, typer.Option("--type", help="refund (refund only) or return (return and refund).")
    ] = RefundKind.refund,
    evidence: Annotated[
        list[Path] | None, typer.Option(help="Evidence file (photo/video); repeatable.")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO code of the amount.")] = "USD",
    item: Annotated[
        int | None,
        typer.Option(
            "--item",
            help="Item line of the order (1 = first, as `recoup orders` numbers them); the amount is "
            "then at most that line's price. Default: the first line without a request.",
        ),
    ] = None,
    queue: QueueOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Open a return/refund dispute with evidence: run it now and print the outcome."""
    with Out(as_json).errors():  # bad input is refused before anything exists on disk
        value, given_currency = _amount(amount)
        refund_type = RefundType.REFUND_ONLY if kind is RefundKind.refund else RefundType.RETURN_AND_REFUND
        raw = {
            "account": account,
            "order_id": order,
            "kind": CaseKind.REFUND,
            "reason": reason,
            "message": message,
            "refund_type": refund_type,
            "amount": value,
            "currency": given_currency or currency.upper(),
            "item_line": item,
        }
        NewCase.parse(raw)
    with opening(ctx, as_json) as cmd:
        submit(cmd, raw, evidence or [], queue_only=queue)


def _cases_table(out: Out, cases: list[Case]) -> None:
    table = Table("case", "account", "order", "kind", "state", "attempts", "updated", "note")
    for c in cases:
        table.add_row(
            str(c.id),
            shown(c.account),
            shown(c.order_id),
            c.kind.value,
            shown(c.state.value, state_style(c.state)),
            str(c.attempts),
            c.updated_at.strftime("%Y-%m-%d %H:%M"),
            shown((c.outcome_note or c.last_error or "")[:60]),
        )
    out.console.print(table)


def status(
    ctx: typer.Context,
    order: Annotated[str | None, typer.Argument(help="Order id: its cases on every account.")] = None,
    account: Annotated[str | None, typer.Option(help="All cases of this account.")] = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Read the portal status now (when no service "
            "runs; else ask the service for an early check).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Where cases stand: of one order, of one account, or every open case."""
    with opening(ctx, as_json) as cmd:
        store = cmd.store
        if account is not None:
            store.accounts.get(account)
        cases = store.cases.list_cases(account=account, states=None if (order or account) else OPEN_STATES)
        if order is not None:
            cases = [c for c in cases if c.order_id == normalize_order_id(order)]
            if not cases:
                raise UnknownCaseError(f"no case for order {order}")
        if refresh and cases:
            _refresh(cmd, cases)
            cases = [store.cases.get(c.id) for c in cases]
        cmd.out.data([case_dict(c) for c in cases], lambda: _cases_table(cmd.out, cases))


def _refresh(cmd: Command, cases: list[Case]) -> None:
    """Read the portal status of `cases` now, one session per account; while the service runs,
    ask it for an early check instead (two processes never drive one account's browser)."""
    tracked = [c for c in cases if c.state in STATUS_CHECK_STATES]
    if service_running(cmd.store):
        for case in tracked:
            cmd.store.tracking.request_check(case.id, detail={"requested_by": "operator"})
        return
    by_account: dict[str, list[Case]] = {}
    for case in tracked:
        by_account.setdefault(case.account, []).append(case)

    async def go() -> None:
        async with open_runtime(cmd.settings, cmd.store) as rt:
            for name, group in by_account.items():
                await rt.engine.check_account(name, group)

    asyncio.run(go())


def evidence(
    ctx: typer.Context,
    case_id: Annotated[int, typer.Argument(help="Case id.")],
    html: Annotated[
        bool, typer.Option("--html", help="Write the self-contained HTML report even before the case ran.")
    ] = False,
    zip_: Annotated[
        bool, typer.Option("--zip", help="Write the zip bundle (files, manifest, report, SHA256SUMS).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A case's evidence: its folder and manifest check; `--html` the report, `--zip` the bundle."""
    with opening(ctx, as_json) as cmd:
        out = cmd.out
        cmd.store.cases.get(case_id)
        engine = Runtime.build(cmd.settings, cmd.store).engine  # no browser is launched
        folder = engine.case_dir(case_id)
        result: dict[str, Any] = {"case": case_id, "folder": str(folder)}
        if not folder.is_dir() and not (html or zip_):
            raise InputError(f"case {case_id} has no evidence yet (it has not run)")
        # Always re-rendered: outcomes applied from mail or a status check change the case later.
        result["report"] = str(engine.write_report(case_id))
        checked = check_manifest(folder) if (folder / "manifest.json").exists() else []
        result["problems"] = [str(p) for p in checked if p.kind != "extra"]  # extra: files outside it
        if zip_:
            result["bundle"] = str(bundle_case(folder))

        def human() -> None:
            out.console.print(line(f"Case {case_id} evidence: {folder}"))
            out.console.print(line(f"report: {result['report']}"))
            if "bundle" in result:
                out.console.print(line(f"bundle: {result['bundle']}"))
            for problem in result["problems"]:
                out.console.print(line(shown("manifest problem", "red"), ": ", problem))

        out.data(result, human)
