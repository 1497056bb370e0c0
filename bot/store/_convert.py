"""Row → domain model conversions (the only place that knows both shapes)."""

from __future__ import annotations

from datetime import datetime

from bot.errors import Action
from bot.models import Attempt, Case, CaseEvent, CaseKind, EvidenceItem, NewCase, RefundType
from bot.states import CaseState
from bot.store._tables import AccountRow, AttemptRow, CaseEventRow, CaseRow, EvidenceRow


def case_from_row(row: CaseRow) -> Case:
    """A :class:`Case` snapshot of `row` (its account must be loaded)."""
    return Case(
        id=row.id,
        account_id=row.account_id,
        account=row.account.name,
        order_id=row.order_id,
        kind=CaseKind(row.kind),
        reason=row.reason,
        message=row.message,
        refund_type=RefundType(row.refund_type) if row.refund_type else None,
        amount=row.amount,
        currency=row.currency,
        item_line=row.item_line,
        evidence_folder=row.evidence_folder,
        state=CaseState(row.state),
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        attempts=row.attempts,
        session_attempts=row.session_attempts,
        next_attempt_at=row.next_attempt_at,
        submit_intent_at=row.submit_intent_at,
        portal_request_ref=row.portal_request_ref,
        outcome_at=row.outcome_at,
        outcome_amount=row.outcome_amount,
        outcome_note=row.outcome_note,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def event_from_row(row: CaseEventRow) -> CaseEvent:
    """A :class:`CaseEvent` from its row."""
    return CaseEvent(
        id=row.id,
        case_id=row.case_id,
        at=row.at,
        from_state=CaseState(row.from_state) if row.from_state else None,
        to_state=CaseState(row.to_state),
        kind=row.kind,
        detail=dict(row.detail),
    )


def attempt_from_row(row: AttemptRow) -> Attempt:
    """An :class:`Attempt` from its row."""
    return Attempt(
        id=row.id,
        case_id=row.case_id,
        number=row.number,
        worker=row.worker,
        started_at=row.started_at,
        finished_at=row.finished_at,
        action=Action(row.action) if row.action else None,
        error_type=row.error_type,
        error_message=row.error_message,
        next_attempt_at=row.next_attempt_at,
        budget_exhausted=row.budget_exhausted,
    )


def evidence_from_row(row: EvidenceRow) -> EvidenceItem:
    """An :class:`EvidenceItem` from its row."""
    return EvidenceItem(
        id=row.id,
        case_id=row.case_id,
        path=row.path,
        sha256=row.sha256,
        kind=row.kind,
        step=row.step,
        url=row.url,
        captured_at=row.captured_at,
    )


def new_case_row(new: NewCase, account: AccountRow, state: CaseState, now: datetime) -> CaseRow:
    """The row of a new case of `account` in `state` (not yet added to a session)."""
    row = CaseRow(
        account_id=account.id,
        order_id=new.order_id,
        kind=new.kind.value,
        reason=new.reason,
        message=new.message,
        refund_type=new.refund_type.value if new.refund_type else None,
        amount=new.amount,
        currency=new.currency,
        item_line=new.item_line,
        evidence_folder=new.evidence_folder,
        state=state.value,
        attempts=0,
        session_attempts=0,
        created_at=now,
        updated_at=now,
    )
    row.account = account
    return row
