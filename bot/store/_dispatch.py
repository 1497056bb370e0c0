"""Claiming the next due case: the one "claim next" path (the dispatcher's). It honours account
pacing (`accounts.next_action_at`) and skips accounts the caller is busy with already.

It reuses the lease machinery of :mod:`bot.store._leases` (the conditional UPDATE that re-checks
state, free lease and no leased sibling; account row locks on PostgreSQL; IMMEDIATE
transactions on SQLite), so its guarantees are the same: never two live leases on cases of
one account.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.models import Case
from bot.states import CaseState
from bot.store._leases import LeaseOps, _lease_free, _no_sibling_leased
from bot.store._tables import AccountRow, CaseRow


class DispatchRepository(LeaseOps):
    """Claims that respect pacing and the caller's busy accounts."""

    def claim_next_ready(
        self, owner: str, *, lease_seconds: float, skip_accounts: Collection[int] = ()
    ) -> Case | None:
        """Lease the next due queued case whose account is not paced (`next_action_at` unset or
        passed), not in `skip_accounts` (ids) and has no leased case; move it to running with a
        `claimed` event. Returns None when nothing is claimable now. Oldest due first.
        """
        now = self._now()
        expires = now + timedelta(seconds=lease_seconds)
        skipped: set[int] = set(skip_accounts)
        with self._tx("claiming a case") as session:
            while True:
                query = (
                    select(CaseRow.id, CaseRow.account_id)
                    .join(AccountRow, AccountRow.id == CaseRow.account_id)
                    .where(
                        CaseRow.state == CaseState.QUEUED.value,
                        or_(CaseRow.next_attempt_at.is_(None), CaseRow.next_attempt_at <= now),
                        or_(AccountRow.next_action_at.is_(None), AccountRow.next_action_at <= now),
                        _lease_free(now),
                        _no_sibling_leased(now),
                    )
                    .order_by(func.coalesce(CaseRow.next_attempt_at, CaseRow.created_at), CaseRow.id)
                    .limit(1)
                )
                if skipped:
                    query = query.where(CaseRow.account_id.not_in(skipped))
                if self._postgres:
                    query = query.with_for_update(skip_locked=True, of=CaseRow)
                candidate = session.execute(query).first()
                if candidate is None:
                    return None
                if self._still_unpaced(session, candidate.account_id, now):
                    case = self._claim_row(
                        session, candidate.id, candidate.account_id, CaseState.QUEUED, owner, now, expires
                    )
                    if case is not None:
                        return case
                skipped.add(candidate.account_id)

    def _still_unpaced(self, session: Session, account_id: int, now: datetime) -> bool:
        """Lock the account (PostgreSQL) and re-read its pacing under the lock."""
        if not self._lock_account(session, account_id):
            return False
        next_at = session.execute(
            select(AccountRow.next_action_at)
            .where(AccountRow.id == account_id)
            .execution_options(populate_existing=True)
        ).scalar_one()
        return next_at is None or next_at <= now
