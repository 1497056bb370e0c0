"""Read-only views for reporting: the outbox delivery log and case rows for exports.

Nothing here writes. Each method is one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bot.states import CaseState
from bot.store._base import RepoBase
from bot.store._outbox import OutboxMessage
from bot.store._tables import AccountRow, CaseEventRow, CaseRow, OutboxRow


@dataclass(frozen=True)
class CaseReportRow:
    """A case with its tracking columns and its newest event, flattened for an export."""

    id: int
    account: str
    order_id: str
    kind: str
    state: str
    reason: str
    message: str
    refund_type: str | None
    amount: Decimal | None
    currency: str | None
    portal_request_ref: str | None
    outcome_at: datetime | None
    outcome_amount: Decimal | None
    outcome_note: str | None
    attempts: int
    last_error: str | None
    check_due_at: datetime | None
    deadline_at: datetime | None
    deadline_kind: str | None
    created_at: datetime
    updated_at: datetime
    last_event_id: int | None
    last_event_kind: str | None
    last_event_at: datetime | None
    last_event_to_state: str | None
    last_event_detail: dict[str, Any] | None


class ReportingRepository(RepoBase):
    """Outbox log and export rows."""

    def outbox_log(self, *, target: str | None = None, limit: int = 1000) -> list[OutboxMessage]:
        """Every outbox row (delivered or not), newest first: attempts, last error, delivered at."""
        query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
        if target is not None:
            query = query.where(OutboxRow.target == target)
        with self._tx("reading the outbox log") as session:
            return [
                OutboxMessage(
                    row.id,
                    row.event_id,
                    row.target,
                    dict(row.payload),
                    row.attempts,
                    row.next_try_at,
                    row.delivered_at,
                    row.last_error,
                )
                for row in session.execute(query).scalars()
            ]

    def case_rows(
        self, *, states: Iterable[CaseState] | None = None, account: str | None = None
    ) -> list[CaseReportRow]:
        """Cases matching the filters, oldest first, each with its newest event (one query)."""
        newest = (
            select(CaseEventRow.case_id, func.max(CaseEventRow.id).label("event_id"))
            .group_by(CaseEventRow.case_id)
            .subquery()
        )
        query = (
            select(CaseRow, AccountRow.name, CaseEventRow)
            .join(AccountRow, CaseRow.account_id == AccountRow.id)
            .outerjoin(newest, newest.c.case_id == CaseRow.id)
            .outerjoin(CaseEventRow, CaseEventRow.id == newest.c.event_id)
        )
        if states is not None:
            query = query.where(CaseRow.state.in_([s.value for s in states]))
        if account is not None:
            query = query.where(AccountRow.name == account)
        query = query.order_by(CaseRow.id)
        with self._tx("reading cases for an export") as session:
            return [_report(row, name, event) for row, name, event in session.execute(query).unique().all()]


def _report(row: CaseRow, account: str, event: CaseEventRow | None) -> CaseReportRow:
    return CaseReportRow(
        id=row.id,
        account=account,
        order_id=row.order_id,
        kind=row.kind,
        state=row.state,
        reason=row.reason,
        message=row.message,
        refund_type=row.refund_type,
        amount=row.amount,
        currency=row.currency,
        portal_request_ref=row.portal_request_ref,
        outcome_at=row.outcome_at,
        outcome_amount=row.outcome_amount,
        outcome_note=row.outcome_note,
        attempts=row.attempts,
        last_error=row.last_error,
        check_due_at=row.check_due_at,
        deadline_at=row.deadline_at,
        deadline_kind=row.deadline_kind,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_event_id=event.id if event else None,
        last_event_kind=event.kind if event else None,
        last_event_at=event.at if event else None,
        last_event_to_state=event.to_state if event else None,
        last_event_detail=dict(event.detail) if event else None,
    )
