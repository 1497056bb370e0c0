"""Creating, reading and moving cases through the state table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot.errors import DuplicateCaseError, UnknownCaseError
from bot.models import Case, CaseEvent, CaseKind, NewCase
from bot.states import CaseState
from bot.store._base import RepoBase
from bot.store._convert import case_from_row, event_from_row
from bot.store._tables import AccountRow, CaseEventRow, CaseRow


class CaseCore(RepoBase):
    """Read and transition cases. Every state change writes an event in its transaction.

    Cases are created by :meth:`bot.store._intake.IntakeRepository.create_with` (`store.intake`).
    """

    @staticmethod
    def _find_id(session: Any, account_id: int, order_id: str, kind: CaseKind) -> int | None:
        found: int | None = session.execute(
            select(CaseRow.id).where(
                CaseRow.account_id == account_id,
                CaseRow.order_id == order_id,
                CaseRow.kind == kind.value,
            )
        ).scalar_one_or_none()
        return found

    @staticmethod
    def _duplicate(new: NewCase, existing_id: int) -> DuplicateCaseError:
        return DuplicateCaseError(
            f"case {existing_id} already covers {new.kind.value} of order {new.order_id} on {new.account}",
            existing_case_id=existing_id,
        )

    def get(self, case_id: int) -> Case:
        """The case as stored now. Raises UnknownCaseError."""
        with self._tx("reading a case") as session:
            return case_from_row(self._load_case(session, case_id))

    def get_many(self, case_ids: Iterable[int]) -> list[Case]:
        """The cases as stored now, in the order of `case_ids`, read in one query (a status
        check of an account's due cases must not cost a round trip per case). Raises
        UnknownCaseError naming the first id that has no case."""
        ids = list(case_ids)
        if not ids:
            return []
        with self._tx("reading cases") as session:
            rows = session.execute(select(CaseRow).where(CaseRow.id.in_(set(ids)))).unique().scalars()
            found = {row.id: case_from_row(row) for row in rows}
        missing = next((i for i in ids if i not in found), None)
        if missing is not None:
            raise UnknownCaseError(f"no case {missing}", case_id=missing)
        return [found[i] for i in ids]

    def find(self, account: str, order_id: str, kind: CaseKind) -> Case | None:
        """The case of `account` for `order_id` and `kind`, if any."""
        with self._tx("finding a case") as session:
            row = (
                session.execute(
                    select(CaseRow)
                    .join(CaseRow.account)
                    .where(
                        AccountRow.name == account,
                        CaseRow.order_id == order_id,
                        CaseRow.kind == kind.value,
                    )
                )
                .unique()
                .scalar_one_or_none()
            )
            return None if row is None else case_from_row(row)

    def list_cases(
        self,
        *,
        states: Iterable[CaseState] | None = None,
        account: str | None = None,
        kind: CaseKind | None = None,
        limit: int | None = None,
    ) -> list[Case]:
        """Cases matching every given filter, oldest first."""
        query = select(CaseRow).join(CaseRow.account).order_by(CaseRow.id)
        if states is not None:
            query = query.where(CaseRow.state.in_([s.value for s in states]))
        if account is not None:
            query = query.where(AccountRow.name == account)
        if kind is not None:
            query = query.where(CaseRow.kind == kind.value)
        if limit is not None:
            query = query.limit(limit)
        with self._tx("listing cases") as session:
            return [case_from_row(row) for row in session.execute(query).unique().scalars()]

    def history(self, case_id: int) -> list[CaseEvent]:
        """The case's events in the order they were written."""
        with self._tx("reading case events") as session:
            rows = session.execute(
                select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id)
            ).scalars()
            return [event_from_row(row) for row in rows]

    def transition(
        self,
        case_id: int,
        to_state: CaseState,
        *,
        expected_from: CaseState,
        detail: Mapping[str, Any] | None = None,
        kind: str = "transition",
        owner: str | None = None,
        portal_request_ref: str | None = None,
        outcome_amount: Decimal | None = None,
        outcome_note: str | None = None,
    ) -> Case:
        """Move the case from `expected_from` to `to_state` and write the event, atomically.

        Optimistic: nothing is written unless the case is still in `expected_from`
        (else StaleStateError). With `owner`, the caller must also hold a live lease (else
        LeaseLostError). A change the state table forbids raises InvalidTransitionError. The
        optional fields are stored with the change when given.
        """
        now = self._now()
        with self._tx("changing a case's state") as session:
            row = self._lock_case(session, case_id, now=now, expected_from=expected_from, owner=owner)
            if portal_request_ref is not None:
                row.portal_request_ref = portal_request_ref
            if outcome_amount is not None:
                row.outcome_amount = outcome_amount
            self._set_state(
                session, row, to_state, now=now, kind=kind, detail=detail, outcome_note=outcome_note
            )
            return case_from_row(row)

    def mark_submit_intent(
        self, case_id: int, owner: str, *, detail: Mapping[str, Any] | None = None
    ) -> Case:
        """Record, durably, that the irreversible click is about to happen: running → submitting.

        Call it BEFORE clicking and click only if it returned. After a crash the case is found
        in `submitting` (:meth:`find_submitting`) and must be reconciled by reading the portal.
        Raises LeaseLostError when `owner` no longer holds the lease (then do not click).
        """
        now = self._now()
        with self._tx("writing a submit intent") as session:
            row = self._lock_case(session, case_id, now=now, expected_from=CaseState.RUNNING, owner=owner)
            row.submit_intent_at = now
            self._set_state(session, row, CaseState.SUBMITTING, now=now, kind="submit_intent", detail=detail)
            return case_from_row(row)

    def find_submitting(self, *, include_leased: bool = False) -> list[Case]:
        """Cases left in `submitting`: the click may have happened, so reconcile before anything.

        By default only cases nobody holds a live lease on (a worker crashed or gave up).
        """
        now = self._now()
        query = (
            select(CaseRow)
            .where(CaseRow.state == CaseState.SUBMITTING.value)
            .order_by(CaseRow.submit_intent_at, CaseRow.id)
        )
        if not include_leased:
            query = query.where(
                (CaseRow.lease_owner.is_(None))
                | (CaseRow.lease_expires_at.is_(None))
                | (CaseRow.lease_expires_at <= now)
            )
        with self._tx("finding submitting cases") as session:
            return [case_from_row(row) for row in session.execute(query).unique().scalars()]
