"""Claiming cases with a lease, one leased case per account at a time.

The next due case is claimed by :meth:`bot.store._dispatch.DispatchRepository.claim_next_ready`
(`store.dispatch`), which reuses `_claim_row` and the conditions here; `claim` leases one given case.

The model is crawlee's SQL request queue: a lease is `lease_owner` + `lease_expires_at`; a
lease whose time has passed counts as free. Claiming is a conditional UPDATE whose WHERE
re-checks everything (state, due time, free lease, no live lease on a sibling case of the same
account) and whose row count says whether the claim won.

* PostgreSQL: the candidate is chosen with ``SELECT ... FOR UPDATE SKIP LOCKED`` and the
  account row is locked with ``FOR UPDATE SKIP LOCKED`` before the UPDATE, so two workers can
  never both lease cases of one account (each would otherwise miss the other's uncommitted
  claim).
* SQLite: every transaction is ``BEGIN IMMEDIATE`` (one writer at a time), so the conditional
  UPDATE sees every committed claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.errors import LeaseLostError
from bot.models import Case
from bot.states import CLAIMABLE_STATES, CaseState, check_transition
from bot.store._base import RepoBase
from bot.store._convert import case_from_row
from bot.store._tables import AccountRow, CaseRow


def _lease_free(now: datetime) -> ColumnElement[bool]:
    return or_(CaseRow.lease_owner.is_(None), CaseRow.lease_expires_at <= now)


def _no_sibling_leased(now: datetime) -> ColumnElement[bool]:
    sibling = aliased(CaseRow)
    return ~exists().where(
        sibling.account_id == CaseRow.account_id,
        sibling.id != CaseRow.id,
        sibling.lease_owner.is_not(None),
        sibling.lease_expires_at > now,
    )


class LeaseOps(RepoBase):
    """Claim, renew, release and reclaim case leases."""

    def claim(self, case_id: int, owner: str, *, lease_seconds: float) -> Case | None:
        """Lease one given case if it is queued (→ running, due time ignored) or submitting
        (stays submitting: the holder must reconcile), its lease is free and its account has no
        other leased case. Returns None when it cannot be claimed now. Raises UnknownCaseError.
        """
        now = self._now()
        expires = now + timedelta(seconds=lease_seconds)
        with self._tx("claiming a case") as session:
            row = self._load_case(session, case_id)
            state = CaseState(row.state)
            if state not in CLAIMABLE_STATES:
                return None
            return self._claim_row(session, row.id, row.account_id, state, owner, now, expires)

    def _lock_account(self, session: Session, account_id: int) -> bool:
        if not self._postgres:
            return True  # the IMMEDIATE transaction already holds SQLite's write lock
        locked = session.execute(
            select(AccountRow.id).where(AccountRow.id == account_id).with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        return locked is not None

    def _claim_row(
        self,
        session: Session,
        case_id: int,
        account_id: int,
        from_state: CaseState,
        owner: str,
        now: datetime,
        expires: datetime,
    ) -> Case | None:
        if not self._lock_account(session, account_id):
            return None
        to_state = CaseState.RUNNING if from_state is CaseState.QUEUED else from_state
        if to_state is not from_state:
            check_transition(from_state, to_state)
        result = session.execute(
            update(CaseRow)
            .where(
                CaseRow.id == case_id,
                CaseRow.state == from_state.value,
                _lease_free(now),
                _no_sibling_leased(now),
            )
            .values(state=to_state.value, lease_owner=owner, lease_expires_at=expires, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            return None
        row = self._load_case(session, case_id)
        self._write_event(
            session,
            row,
            at=now,
            from_state=from_state,
            to_state=to_state,
            kind="claimed",
            detail={"owner": owner, "lease_expires_at": expires.isoformat()},
        )
        return case_from_row(row)

    def renew_lease(self, case_id: int, owner: str, *, lease_seconds: float) -> datetime:
        """Extend `owner`'s live lease to now + `lease_seconds` and return the new expiry.

        Raises LeaseLostError when the lease expired or belongs to someone else (stop working
        on the case), UnknownCaseError when there is no such case.
        """
        now = self._now()
        expires = now + timedelta(seconds=lease_seconds)
        with self._tx("renewing a lease") as session:
            result = session.execute(
                update(CaseRow)
                .where(
                    CaseRow.id == case_id,
                    CaseRow.lease_owner == owner,
                    CaseRow.lease_expires_at > now,
                )
                .values(lease_expires_at=expires, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], result).rowcount != 1:
                self._load_case(session, case_id)  # UnknownCaseError if missing
                raise LeaseLostError(f"lease on case {case_id} is not held by {owner}", case_id=case_id)
            return expires

    def release_lease(self, case_id: int, owner: str) -> Case:
        """Give the lease back. A case still `running` goes back to `queued` (never stranded);
        a `submitting` case stays so (it must be reconciled). Writes a `released` event.

        Raises LeaseLostError when `owner` is not the lease holder.
        """
        now = self._now()
        with self._tx("releasing a lease") as session:
            row = self._load_case(session, case_id, for_update=self._postgres)
            if row.lease_owner != owner:
                raise LeaseLostError(f"lease on case {case_id} is not held by {owner}", case_id=case_id)
            self._drop_lease(session, row, now, kind="released", detail={"owner": owner})
            return case_from_row(row)

    def _drop_lease(
        self, session: Session, row: CaseRow, now: datetime, *, kind: str, detail: dict[str, Any]
    ) -> None:
        state = CaseState(row.state)
        if state is CaseState.RUNNING:
            self._set_state(session, row, CaseState.QUEUED, now=now, kind=kind, detail=detail)
            return
        row.lease_owner = None
        row.lease_expires_at = None
        row.updated_at = now
        self._write_event(session, row, at=now, from_state=state, to_state=state, kind=kind, detail=detail)

    def reclaim_expired(self) -> list[Case]:
        """Free every lease that has expired (run at start and periodically).

        `running` cases go back to `queued`; `submitting` cases stay `submitting` for
        reconciliation. Each writes a `lease_expired` event. Returns the reclaimed cases.
        """
        now = self._now()
        query = select(CaseRow).where(and_(CaseRow.lease_owner.is_not(None), CaseRow.lease_expires_at <= now))
        if self._postgres:
            query = query.with_for_update(skip_locked=True, of=CaseRow)
        with self._tx("reclaiming expired leases") as session:
            reclaimed = []
            for row in session.execute(query).unique().scalars().all():
                detail = {
                    "owner": row.lease_owner,
                    "expired_at": row.lease_expires_at.isoformat() if row.lease_expires_at else None,
                }
                self._drop_lease(session, row, now, kind="lease_expired", detail=detail)
                reclaimed.append(case_from_row(row))
            return reclaimed

    def leased(self) -> list[Case]:
        """Cases under a live lease right now."""
        now = self._now()
        with self._tx("listing leased cases") as session:
            rows = session.execute(
                select(CaseRow).where(CaseRow.lease_owner.is_not(None), CaseRow.lease_expires_at > now)
            )  # sorted here: with ORDER BY id SQLite walks the whole table in id order instead of
            # reading the few rows of the partial index ix_cases_leased
            return sorted((case_from_row(row) for row in rows.unique().scalars()), key=lambda c: c.id)
