"""What every repository shares: sessions, the clock, the error boundary, event writing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import LeaseLostError, StaleStateError, UnknownCaseError
from bot.states import ERROR_KEEPING_STATES, LEASED_STATES, OUTCOME_STATES, CaseState, check_transition
from bot.store._clock import Clock
from bot.store._engine import sql_errors
from bot.store._tables import CaseEventRow, CaseRow, OutboxRow


class RepoBase:
    """Base of the repositories. Each public method runs in its own transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        postgres: bool,
        outbox_targets: tuple[str, ...] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._postgres = postgres
        self._outbox_targets = outbox_targets

    @contextmanager
    def _tx(self, doing: str) -> Iterator[Session]:
        """One transaction; committed on success, rolled back on any error; SQL errors converted."""
        with sql_errors(doing), self._sessions.begin() as session:
            yield session

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the store's clock returned a naive datetime")
        return now

    @staticmethod
    def _load_case(session: Session, case_id: int, *, for_update: bool = False) -> CaseRow:
        """The case row (fresh from the database); UnknownCaseError when there is none."""
        query = select(CaseRow).where(CaseRow.id == case_id).execution_options(populate_existing=True)
        if for_update:
            query = query.with_for_update(of=CaseRow)
        row = session.execute(query).unique().scalar_one_or_none()
        if row is None:
            raise UnknownCaseError(f"no case {case_id}", case_id=case_id)
        return row

    def _write_event(
        self,
        session: Session,
        case: CaseRow,
        *,
        at: datetime,
        from_state: CaseState | None,
        to_state: CaseState,
        kind: str,
        detail: Mapping[str, Any] | None = None,
    ) -> CaseEventRow:
        """Append an event (and one outbox row per configured target) in `session`'s transaction."""
        event = CaseEventRow(
            case_id=case.id,
            at=at,
            from_state=from_state.value if from_state else None,
            to_state=to_state.value,
            kind=kind,
            detail=dict(detail or {}),
        )
        session.add(event)
        session.flush()
        for target in self._outbox_targets:
            payload = {
                "event_id": event.id,
                "case_id": case.id,
                "account": case.account.name,
                "order_id": case.order_id,
                "case_kind": case.kind,
                "at": at.isoformat(),
                "from_state": event.from_state,
                "to_state": event.to_state,
                "kind": kind,
                "detail": event.detail,
            }
            session.add(
                OutboxRow(
                    event_id=event.id,
                    target=target,
                    payload=payload,
                    attempts=0,
                    next_try_at=at,
                    created_at=at,
                )
            )
        return event

    def _lock_case(
        self,
        session: Session,
        case_id: int,
        *,
        now: datetime,
        expected_from: CaseState | None = None,
        owner: str | None = None,
    ) -> CaseRow:
        """Load and lock the case (row lock on PostgreSQL; SQLite transactions are IMMEDIATE).

        Raises UnknownCaseError, StaleStateError when it is not in `expected_from`, and
        LeaseLostError when `owner` is given but does not hold a live lease on it.
        """
        row = self._load_case(session, case_id, for_update=self._postgres)
        if expected_from is not None and row.state != expected_from.value:
            raise StaleStateError(
                f"case {case_id} is {row.state}, not {expected_from.value}",
                case_id=case_id,
                state=row.state,
                expected=expected_from.value,
            )
        if owner is not None and (
            row.lease_owner != owner or row.lease_expires_at is None or row.lease_expires_at <= now
        ):
            raise LeaseLostError(f"lease on case {case_id} is not held by {owner}", case_id=case_id)
        return row

    def _set_state(
        self,
        session: Session,
        row: CaseRow,
        to_state: CaseState,
        *,
        now: datetime,
        kind: str,
        detail: Mapping[str, Any] | None = None,
        outcome_note: str | None = None,
    ) -> CaseEventRow:
        """Move a locked row to `to_state` (checked against the table) and write its event.

        Leaving the leased states (running, submitting) also clears the lease, so a finished
        or parked case never keeps its account busy; `last_error` is cleared unless the new
        state is one of :data:`bot.states.ERROR_KEEPING_STATES`. The case's `outcome_note` is
        the note of THIS move (`outcome_note`, or none): a note never outlives the state it
        explained (a refunded case does not keep "the seller made a counter-proposal").
        """
        from_state = CaseState(row.state)
        check_transition(from_state, to_state)
        row.state = to_state.value
        row.updated_at = now
        row.outcome_note = outcome_note
        if to_state not in LEASED_STATES:
            row.lease_owner = None
            row.lease_expires_at = None
        if to_state in OUTCOME_STATES:
            row.outcome_at = now
        if to_state not in ERROR_KEEPING_STATES:
            row.last_error = None
        return self._write_event(
            session, row, at=now, from_state=from_state, to_state=to_state, kind=kind, detail=detail
        )
