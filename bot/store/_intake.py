"""Creating a case together with everything that must exist with it, in ONE transaction:
the case row, its `created` event (with caller-given detail such as the dry-run flag), a
caller's guard run under the account's lock (the dispute-share cap), and the evidence records
of files the caller copies in while the transaction is open.

If anything fails — the guard, the copy, a duplicate, the commit — the transaction rolls back
and no row or event remains; removing copied files is the caller's part (`bot.cases`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, not_, select

from bot.errors import InputError, InvalidTransitionError, UnknownAccountError
from bot.models import Case, CaseKind, NewCase, NewEvidence
from bot.states import INITIAL_STATES, CaseState
from bot.store._cases import CaseCore
from bot.store._convert import case_from_row, new_case_row
from bot.store._tables import AccountRow, CaseRow, EvidenceRow


@dataclass(frozen=True)
class AccountLoad:
    """What the dispute-share guard sees, read under the account's lock."""

    account: str
    orders_seen: int | None
    """Orders the last status scan saw on the account; None when never scanned."""
    disputes: int
    """Refund cases of the account that are or will be disputes (not withdrawn by an operator,
    not failed before anything was submitted)."""


Guard = Callable[[NewCase, AccountLoad], None]
"""Raises an InputError to refuse the case; runs inside the transaction."""

Materialize = Callable[[int], tuple[str | None, list[NewEvidence]]]
"""Given the new case id, put its files in place; returns (evidence folder, records)."""


class IntakeRepository(CaseCore):
    """Atomic case creation: the one way a case row comes to exist (:func:`bot.cases.create_case`)."""

    def create_with(
        self,
        new: NewCase,
        *,
        initial_state: CaseState = CaseState.QUEUED,
        created_detail: Mapping[str, Any] | None = None,
        guard: Guard | None = None,
        materialize: Materialize | None = None,
    ) -> Case:
        """Insert the case, run `guard`, call `materialize(case_id)`, record its evidence and the
        `created` event; commit all or nothing.

        Raises UnknownAccountError, DuplicateCaseError (naming the existing case), whatever
        `guard` / `materialize` raise, and InvalidTransitionError for a bad initial state.
        """
        if initial_state not in INITIAL_STATES:
            raise InvalidTransitionError(f"a case cannot start as {initial_state.value}")
        now = self._now()
        try:
            with self._tx("creating a case") as session:
                query = select(AccountRow).where(AccountRow.name == new.account)
                if self._postgres:
                    query = query.with_for_update()
                account = session.execute(query).scalar_one_or_none()
                if account is None:
                    raise UnknownAccountError(f"no account named {new.account!r}", account=new.account)
                existing = self._find_id(session, account.id, new.order_id, new.kind)
                if existing is not None:
                    raise self._duplicate(new, existing)
                if guard is not None and new.kind is CaseKind.REFUND:
                    guard(
                        new,
                        AccountLoad(account.name, account.orders_seen, self._disputes(session, account.id)),
                    )
                row = new_case_row(new, account, initial_state, now)
                session.add(row)
                session.flush()
                records: list[NewEvidence] = []
                if materialize is not None:
                    folder, records = materialize(row.id)
                    row.evidence_folder = folder
                for item in records:
                    session.add(EvidenceRow(case_id=row.id, **item.model_dump()))
                session.flush()
                self._write_event(
                    session,
                    row,
                    at=now,
                    from_state=None,
                    to_state=initial_state,
                    kind="created",
                    detail={
                        "kind": new.kind.value,
                        "order_id": new.order_id,
                        "evidence_files": len(records),
                        **(created_detail or {}),
                    },
                )
                return case_from_row(row)
        except InputError as error:
            from sqlalchemy import exc

            if isinstance(error.__cause__, exc.IntegrityError):
                found = self.find(new.account, new.order_id, new.kind)
                if found is not None:
                    raise self._duplicate(new, found.id) from error
            raise

    @staticmethod
    def _disputes(session: Any, account_id: int) -> int:
        withdrawn = CaseRow.state == CaseState.CANCELED_BY_OPERATOR.value
        failed_unsent = and_(CaseRow.state == CaseState.FAILED.value, CaseRow.submit_intent_at.is_(None))
        count: int = session.execute(
            select(func.count())
            .select_from(CaseRow)
            .where(
                CaseRow.account_id == account_id,
                CaseRow.kind == CaseKind.REFUND.value,
                not_(withdrawn),
                not_(failed_unsent),
            )
        ).scalar_one()
        return count
