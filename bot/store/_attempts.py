"""Recording attempts against the two retry budgets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.errors import Action, RecoupError
from bot.models import Attempt
from bot.states import CaseState
from bot.store._base import RepoBase
from bot.store._clock import RandomSource
from bot.store._convert import attempt_from_row
from bot.store._retry import RetryPolicy
from bot.store._tables import AttemptRow


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
        """Record a finished attempt, count it, schedule the retry, optionally move the case.

        Counting: an error whose action is RELOGIN counts on the session budget, FIX_CONFIG (a
        missing secret, a bad setting: the case is not at fault) on no budget, anything else
        on the attempt budget. For RETRY / RELOGIN with budget left, `next_attempt_at` is set to
        now + backoff (jittered); when the budget is spent `budget_exhausted` is True and no
        retry is scheduled (the caller fails the case). `to_state` (e.g. queued to retry,
        failed when exhausted) is applied in the same transaction, checked against the state
        table. Writes an `attempt` event. Raises UnknownCaseError, InvalidTransitionError.
        """
        now = self._now()
        action = error.action if error is not None else None
        with self._tx("recording an attempt") as session:
            row = self._lock_case(session, case_id, now=now)
            number = (
                session.execute(
                    select(func.count()).select_from(AttemptRow).where(AttemptRow.case_id == case_id)
                ).scalar_one()
                + 1
            )
            if action is Action.RELOGIN:
                row.session_attempts += 1
                used, budget = row.session_attempts, self._retry.max_session_attempts
            elif action is Action.FIX_CONFIG:
                used, budget = row.attempts, self._retry.max_attempts
            else:
                row.attempts += 1
                used, budget = row.attempts, self._retry.max_attempts
            retrying = action in (Action.RETRY, Action.RELOGIN)
            exhausted = retrying and used >= budget
            next_at = now + self._retry.delay(used, self._rng) if retrying and not exhausted else None
            row.next_attempt_at = next_at
            row.updated_at = now
            if error is not None:
                row.last_error = f"{type(error).__name__}: {error.message}"[:2000]
            attempt = AttemptRow(
                case_id=case_id,
                number=number,
                worker=worker,
                started_at=started_at,
                finished_at=now,
                action=action.value if action else None,
                error_type=type(error).__name__ if error else None,
                error_message=error.message[:2000] if error else None,
                next_attempt_at=next_at,
                budget_exhausted=exhausted,
            )
            session.add(attempt)
            session.flush()
            state = CaseState(row.state)
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
                    "budget_exhausted": exhausted,
                },
            )
            if to_state is not None:
                self._set_state(
                    session, row, to_state, now=now, kind="transition", detail={"attempt": number}
                )
            return attempt_from_row(attempt)

    def attempts_of(self, case_id: int) -> list[Attempt]:
        """The case's attempts, first to last."""
        with self._tx("reading attempts") as session:
            rows = session.execute(
                select(AttemptRow).where(AttemptRow.case_id == case_id).order_by(AttemptRow.number)
            ).scalars()
            return [attempt_from_row(row) for row in rows]
