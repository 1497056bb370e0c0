"""Read-only views for reporting: the outbox delivery log, webhook delivery per case and case
rows for exports.

Nothing here writes. Each method is one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select

from bot.states import CaseState
from bot.store._base import RepoBase
from bot.store._outbox import OutboxMessage, message_of
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


@dataclass(frozen=True)
class WebhookSummary:
    """How a case's events fared with one outbox target: delivered, still pending (retrying) and
    dead (retry budget used up, never sent again), with the last error of an undelivered one
    (a dead letter's first)."""

    delivered: int
    pending: int
    dead: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``cases show --json``, the export's ``webhooks`` column)."""
        return {
            "delivered": self.delivered,
            "pending": self.pending,
            "dead": self.dead,
            "last_error": self.last_error,
        }

    def describe(self) -> str:
        """One line for people: ``3 delivered, 0 pending, 1 dead (last error: HTTP 500)``."""
        line = f"{self.delivered} delivered, {self.pending} pending, {self.dead} dead"
        return f"{line} (last error: {self.last_error})" if self.last_error else line


class ReportingRepository(RepoBase):
    """Outbox log and export rows."""

    def outbox_log(self, *, target: str | None = None, limit: int = 1000) -> list[OutboxMessage]:
        """Every outbox row (delivered or not), newest first: attempts, last error, delivered at."""
        query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
        if target is not None:
            query = query.where(OutboxRow.target == target)
        with self._tx("reading the outbox log") as session:
            return [message_of(row) for row in session.execute(query).scalars()]

    def webhook_summaries(
        self, target: str, *, case_ids: Iterable[int] | None = None
    ) -> dict[int, WebhookSummary]:
        """Per case (of `case_ids`, or every case with outbox rows): its events' deliveries to
        `target`. Cases without any row for `target` are absent."""
        counts = (
            select(
                CaseEventRow.case_id,
                func.count(OutboxRow.delivered_at),
                func.count(OutboxRow.dead_at),
                func.count(OutboxRow.id),
            )
            .join(CaseEventRow, CaseEventRow.id == OutboxRow.event_id)
            .where(OutboxRow.target == target)
            .group_by(CaseEventRow.case_id)
        )
        errors = (
            select(CaseEventRow.case_id, OutboxRow.last_error)
            .join(CaseEventRow, CaseEventRow.id == OutboxRow.event_id)
            .where(
                OutboxRow.target == target,
                OutboxRow.delivered_at.is_(None),
                OutboxRow.last_error.is_not(None),
            )
            .order_by(case((OutboxRow.dead_at.is_(None), 1), else_=0), OutboxRow.id.desc())
        )
        if case_ids is not None:
            wanted = list(case_ids)
            counts = counts.where(CaseEventRow.case_id.in_(wanted))
            errors = errors.where(CaseEventRow.case_id.in_(wanted))
        with self._tx("reading webhook deliveries") as session:
            last_error: dict[int, str] = {}
            for case_id, error in session.execute(errors):
                if error is not None:
                    last_error.setdefault(case_id, error)
            return {
                case_id: WebhookSummary(delivered, total - delivered - dead, dead, last_error.get(case_id))
                for case_id, delivered, dead, total in session.execute(counts)
            }

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
