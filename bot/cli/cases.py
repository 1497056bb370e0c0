"""`recoup cases list|show|approve|retry|cancel|export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.cases import approve_case
from bot.cli.common import JsonOpt, case_dict, opening
from bot.cli.orders import QueueOpt, _cases_table
from bot.cli.submit import run_existing
from bot.display import line, shown
from bot.errors import InvalidTransitionError
from bot.export import ExportFormat, export_cases
from bot.models import CaseKind
from bot.outbox import TARGET as WEBHOOK_TARGET
from bot.states import CaseState

app = typer.Typer(help="List, inspect, approve, retry, withdraw and export cases.", no_args_is_help=True)


@app.command("list")
def list_cases(
    ctx: typer.Context,
    state: Annotated[list[CaseState] | None, typer.Option(help="Only these states (repeatable).")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    kind: Annotated[CaseKind | None, typer.Option(help="cancel or refund.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List cases, oldest first."""
    with opening(ctx, as_json, store="create") as cmd:
        if account is not None:
            cmd.store.accounts.get(account)
        cases = cmd.store.cases.list_cases(states=state or None, account=account, kind=kind, limit=limit)
        cmd.out.data([case_dict(c) for c in cases], lambda: _cases_table(cmd.out, cases))


@app.command("show")
def show(ctx: typer.Context, case_id: int, as_json: JsonOpt = False) -> None:
    """One case with its history, attempts and evidence."""
    with opening(ctx, as_json) as cmd:
        out, store = cmd.out, cmd.store
        case = store.cases.get(case_id)
        events = store.cases.history(case_id)
        attempts = store.cases.attempts_of(case_id)
        evidence = store.evidence.list_for(case_id)
        webhooks = store.reporting.webhook_summaries(WEBHOOK_TARGET, case_ids=[case_id]).get(case_id)
        folder = cmd.settings.evidence_dir / f"case-{case_id}"
        payload: dict[str, Any] = {
            **case_dict(case),
            "events": [e.model_dump(mode="json") for e in events],
            "attempts": [a.model_dump(mode="json") for a in attempts],
            "evidence": [e.model_dump(mode="json") for e in evidence],
            "folder": str(folder),
            "report": str(folder / "report.html") if (folder / "report.html").exists() else None,
            "webhooks": webhooks.as_dict() if webhooks else None,
        }

        def human() -> None:
            c = out.console
            c.print(
                line(
                    shown(f"Case {case.id}", "bold"),
                    f": {case.kind.value} of order {case.order_id} on {case.account} — {case.state.value}",
                )
            )
            c.print(line(f"reason {case.reason}; message: {case.message or '-'}"))
            if case.amount is not None:
                c.print(
                    line(
                        f"amount {case.amount} {case.currency} "
                        f"({case.refund_type.value if case.refund_type else ''})"
                    )
                )
            if case.item_line is not None:
                c.print(line(f"item line {case.item_line} of the order"))
            if case.outcome_note:
                c.print(line(f"outcome: {case.outcome_note}"))
            table = Table("at", "from", "to", "event")
            table.add_column("detail", overflow="fold")  # wrapped, never cut
            for e in events:
                table.add_row(
                    e.at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.from_state.value if e.from_state else "",
                    e.to_state.value,
                    shown(e.kind),
                    shown(", ".join(f"{k}={v}" for k, v in e.detail.items())),
                )
            c.print(table)
            c.print(line(f"{len(attempts)} attempt(s); {len(evidence)} evidence file(s) in {folder}"))
            if payload["report"]:
                c.print(line(f"report: {payload['report']}"))
            if webhooks:
                c.print(line(f"webhooks: {webhooks.describe()}"))

        out.data(payload, human)


@app.command("approve")
def approve(ctx: typer.Context, case_id: int, queue: QueueOpt = False, as_json: JsonOpt = False) -> None:
    """Let an approve-first case run (and run it now unless `--queue` or the service runs)."""
    with opening(ctx, as_json) as cmd:
        approve_case(cmd.store, case_id, operator="cli")
        run_existing(cmd, case_id, queue_only=queue)


@app.command("retry")
def retry(ctx: typer.Context, case_id: int, queue: QueueOpt = False, as_json: JsonOpt = False) -> None:
    """Send a case that waits for a human back to the queue (after you solved what stopped it)
    and run it now unless `--queue` or the service runs."""
    with opening(ctx, as_json) as cmd:
        case = cmd.store.cases.get(case_id)
        if case.state is not CaseState.NEEDS_HUMAN:
            raise InvalidTransitionError(
                f"case {case_id} is {case.state.value}; only a case waiting for a human can be retried"
            )
        if case.submit_intent_at is not None:
            raise InvalidTransitionError(
                f"case {case_id} may have been submitted already (submit intent at "
                f"{case.submit_intent_at:%Y-%m-%d %H:%M}); check the portal and use "
                "`recoup status --refresh`"
            )
        cmd.store.cases.transition(
            case_id,
            CaseState.QUEUED,
            expected_from=CaseState.NEEDS_HUMAN,
            kind="retry_by_operator",
            detail={"operator": "cli"},
        )
        run_existing(cmd, case_id, queue_only=queue)


@app.command("cancel")
def withdraw(ctx: typer.Context, case_id: int, as_json: JsonOpt = False) -> None:
    """Withdraw a case that has not been submitted (awaiting approval, queued, needs a human)."""
    with opening(ctx, as_json) as cmd:
        case = cmd.store.cases.get(case_id)
        if case.submit_intent_at is not None:
            raise InvalidTransitionError(
                f"case {case_id} may have reached the portal; it cannot be withdrawn"
            )
        moved = cmd.store.cases.transition(
            case_id,
            CaseState.CANCELED_BY_OPERATOR,
            expected_from=case.state,
            kind="canceled_by_operator",
            detail={"operator": "cli"},
        )
        out = cmd.out
        out.data(case_dict(moved), lambda: out.console.print(line(f"Case {case_id} withdrawn.")))


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="json or csv.")] = ExportFormat.JSON,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
    state: Annotated[list[CaseState] | None, typer.Option(help="Only these states (repeatable).")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
) -> None:
    """Export cases (with tracking columns and their last event) as JSON or CSV."""
    with opening(ctx, store="create") as cmd:
        if account is not None:
            cmd.store.accounts.get(account)
        count = export_cases(cmd.store, fmt, path=output, states=state or None, account=account)
        if output is not None:
            cmd.out.err.print(line(f"{count} case(s) written to {output}"))
