"""Recording attempts against the two retry budgets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.errors import Action, RecoupError
from bot.models import Attempt, Case
from bot.states import Budgets, CaseState, FailureDecision, after_failure
from bot.store._base import RepoBase
from bot.store._clock import RandomSource
from bot.store._convert import attempt_from_row, case_from_row
from bot.store._retry import RetryPolicy
from bot.store._tables import AttemptRow, CaseRow


class AttemptOps(RepoBase):
    """Attempt bookkeeping; needs `_retry` and `_rng` (set by CaseRepository)."""

    _retry: RetryPolicy
    _rng: RandomSource

    def record_attempt(
        self,
        case_id: int,
        *,
        worker: str,
        started_at: datetime,
        error: RecoupError | None = None,
        to_state: CaseState | None = None,
    ) -> Attempt:
        """Record a finished attempt, count it, schedule the retry, optionally move the case to
        `to_state` (a move the caller chose, e.g. after a success; a failed run is recorded by
        :meth:`record_failure`, which lets the failure policy choose).

        Counting and retry scheduling follow :func:`bot.states.after_failure` (a success counts
        on the attempt budget). `to_state` is applied in the same transaction, checked against
        the state table. Writes an `attempt` event. Raises UnknownCaseError,
        InvalidTransitionError; nothing is written then.
        """
        now = self._now()
        with self._tx("recording an attempt") as session:
            row = self._lock_case(session, case_id, now=now)
            attempt, _ = self._record(session, row, now, worker, started_at, error)
            if to_state is not None:
                self._set_state(
                    session, row, to_state, now=now, kind="transition", detail={"attempt": attempt.number}
                )
            return attempt_from_row(attempt)

    def record_failure(
        self, case_id: int, *, worker: str, started_at: datetime, error: RecoupError, owner: str | None = None
    ) -> Case:
        """Record a failed attempt and move the case as the one failure policy
        (:func:`bot.states.after_failure`) decides from its state, `error.action` and budgets, all
        in ONE transaction: the attempt, its count and backoff, and the state change (with the
        error as `outcome_note` when it parks or fails the case). Returns the case afterwards.

        With `owner`, the caller must hold a live lease on the case. Raises LeaseLostError when
        it does not, and re-raises `error` itself when its action is STOP (a lost lease): nothing
        is written then. Raises UnknownCaseError when there is no such case.
        """
        now = self._now()
        with self._tx("recording a failed attempt") as session:
            row = self._lock_case(session, case_id, now=now, owner=owner)
            attempt, decision = self._record(session, row, now, worker, started_at, error)
            if decision.stop:
                raise error  # rolls the transaction back: a worker without the lease writes nothing
            if decision.to_state is not None:
                note = None
                if decision.to_state in (CaseState.NEEDS_HUMAN, CaseState.FAILED):
                    note = error.message
                if error.action is Action.FIX_CONFIG:
                    note = f"{error.message}; fix the configuration, then `recoup cases retry {case_id}`"
                self._set_state(
                    session,
                    row,
                    decision.to_state,
                    now=now,
                    kind="transition",
                    detail={
                        "attempt": attempt.number,
                        "error": type(error).__name__,
                        "message": error.message,
                    },
                    outcome_note=note,
                )
            return case_from_row(row)

    def _record(
        self,
        session: Session,
        row: CaseRow,
        now: datetime,
        worker: str,
        started_at: datetime,
        error: RecoupError | None,
    ) -> tuple[AttemptRow, FailureDecision]:
        """Count the attempt on its budget, schedule its retry and write it with its event."""
        action = error.action if error is not None else None
        state = CaseState(row.state)
        budgets = Budgets(
            attempts=row.attempts,
            max_attempts=self._retry.max_attempts,
            session_attempts=row.session_attempts,
            max_session_attempts=self._retry.max_session_attempts,
        )
        decision = (
            after_failure(state, action, budgets)
            if action is not None
            else FailureDecision(None, "attempts", row.attempts + 1, retry=False, exhausted=False)
        )
        number = (
            session.execute(
                select(func.count()).select_from(AttemptRow).where(AttemptRow.case_id == row.id)
            ).scalar_one()
            + 1
        )
        if decision.counted_on == "session":
            row.session_attempts = decision.used
        elif decision.counted_on == "attempts":
            row.attempts = decision.used
        next_at = now + self._retry.delay(decision.used, self._rng) if decision.retry else None
        row.next_attempt_at = next_at
        row.updated_at = now
        if error is not None:
            row.last_error = f"{type(error).__name__}: {error.message}"[:2000]
        attempt = AttemptRow(
            case_id=row.id,
            number=number,
            worker=worker,
            started_at=started_at,
            finished_at=now,
            action=action.value if action else None,
            error_type=type(error).__name__ if error else None,
            error_message=error.message[:2000] if error else None,
            next_attempt_at=next_at,
            budget_exhausted=decision.exhausted,
        )
        session.add(attempt)
        session.flush()
        self._write_event(
            session,
            row,
            at=now,
            from_state=state,
            to_state=state,
            kind="attempt",
            detail={
                "number": number,
                "worker": worker,
                "action": attempt.action,
                "error_type": attempt.error_type,
                "next_attempt_at": next_at.isoformat() if next_at else None,
                "budget_exhausted": decision.exhausted,
            },
        )
        return attempt, decision

    def attempts_of(self, case_id: int) -> list[Attempt]:
        """The case's attempts, first to last."""
        with self._tx("reading attempts") as session:
            rows = session.execute(
                select(AttemptRow).where(AttemptRow.case_id == case_id).order_by(AttemptRow.number)
            ).scalars()
            return [attempt_from_row(row) for row in rows]
