"""Outcome tracking columns: when to check a case's status, its next portal deadline, and the
per-account numbers the scheduler and the intake need (pacing, orders seen).

Every write that matters to an operator (a requested check, a deadline reached) appends a case
event in the same transaction. Reads return :class:`CaseTracking` snapshots, which carry the
tracking columns the :class:`bot.models.Case` model does not.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, update

from bot.errors import UnknownAccountError
from bot.models import CaseKind
from bot.states import CaseState
from bot.store._base import RepoBase
from bot.store._mail_apply import CHECK_EVENT
from bot.store._tables import AccountRow, CaseRow


@dataclass(frozen=True)
class CaseTracking:
    """A case's tracking columns (a snapshot)."""

    case_id: int
    account_id: int
    account: str
    order_id: str
    kind: CaseKind
    state: CaseState
    created_at: datetime
    submit_intent_at: datetime | None
    check_due_at: datetime | None
    deadline_at: datetime | None
    deadline_kind: str | None


@dataclass(frozen=True)
class AccountPace:
    """An account's pacing and size numbers."""

    account_id: int
    name: str
    next_action_at: datetime | None
    orders_seen: int | None


_TRACKING_COLUMNS = (
    CaseRow.id,
    CaseRow.account_id,
    AccountRow.name,
    CaseRow.order_id,
    CaseRow.kind,
    CaseRow.state,
    CaseRow.created_at,
    CaseRow.submit_intent_at,
    CaseRow.check_due_at,
    CaseRow.deadline_at,
    CaseRow.deadline_kind,
)


def _select_tracking() -> Select[*tuple[Any, ...]]:
    """Only the columns a :class:`CaseTracking` needs (no ORM rows: lists of due cases grow with
    the store, and building full case objects for them cost more than the query)."""
    return select(*_TRACKING_COLUMNS).join(AccountRow, AccountRow.id == CaseRow.account_id)


def _tracking_of(row: Sequence[Any]) -> CaseTracking:
    (case_id, account_id, account, order_id, kind, state, created_at, submit_intent_at,
     check_due_at, deadline_at, deadline_kind) = row  # fmt: skip
    return CaseTracking(
        case_id=case_id,
        account_id=account_id,
        account=account,
        order_id=order_id,
        kind=CaseKind(kind),
        state=CaseState(state),
        created_at=created_at,
        submit_intent_at=submit_intent_at,
        check_due_at=check_due_at,
        deadline_at=deadline_at,
        deadline_kind=deadline_kind,
    )


def _tracking(row: CaseRow) -> CaseTracking:
    return CaseTracking(
        case_id=row.id,
        account_id=row.account_id,
        account=row.account.name,
        order_id=row.order_id,
        kind=CaseKind(row.kind),
        state=CaseState(row.state),
        created_at=row.created_at,
        submit_intent_at=row.submit_intent_at,
        check_due_at=row.check_due_at,
        deadline_at=row.deadline_at,
        deadline_kind=row.deadline_kind,
    )


class TrackingRepository(RepoBase):
    """Status-check times, deadlines, account pacing and order counts."""

    # ---- reading ------------------------------------------------------------------------------
    def tracking(self, case_id: int) -> CaseTracking:
        """The case's tracking columns. Raises UnknownCaseError."""
        with self._tx("reading a case's tracking") as session:
            return _tracking(self._load_case(session, case_id))

    def due_checks(self, states: Collection[CaseState]) -> list[CaseTracking]:
        """Cases in `states` whose status check is due: `check_due_at` unset or not after now.
        Oldest due first."""
        now = self._now()
        query = (
            _select_tracking()
            .where(
                CaseRow.state.in_([s.value for s in states]),
                or_(CaseRow.check_due_at.is_(None), CaseRow.check_due_at <= now),
            )
            .order_by(CaseRow.check_due_at, CaseRow.id)
        )
        with self._tx("listing due status checks") as session:
            return [_tracking_of(row) for row in session.execute(query)]

    def passed_deadlines(self, states: Collection[CaseState]) -> list[CaseTracking]:
        """Cases in `states` whose `deadline_at` is not after now, earliest first."""
        now = self._now()
        query = (
            _select_tracking()
            .where(
                CaseRow.state.in_([s.value for s in states]),
                CaseRow.deadline_at.is_not(None),
                CaseRow.deadline_at <= now,
            )
            .order_by(CaseRow.deadline_at, CaseRow.id)
        )
        with self._tx("listing passed deadlines") as session:
            return [_tracking_of(row) for row in session.execute(query)]

    def without_deadline(self, states: Collection[CaseState]) -> list[CaseTracking]:
        """Cases in `states` that have no deadline set, oldest first."""
        query = (
            _select_tracking()
            .where(CaseRow.state.in_([s.value for s in states]), CaseRow.deadline_kind.is_(None))
            .order_by(CaseRow.id)
        )
        with self._tx("listing cases without a deadline") as session:
            return [_tracking_of(row) for row in session.execute(query)]

    # ---- writing ------------------------------------------------------------------------------
    def set_deadline(
        self,
        case_id: int,
        *,
        kind: str | None,
        at: datetime | None,
        check_due_at: datetime | None = None,
        expected_kind: str | None = None,
        event: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> CaseTracking | None:
        """Set the case's next deadline (`kind`, `at`; both None clear it) and, when given, its
        `check_due_at`: a time not after now is always written (so a check already running keeps
        it, see :meth:`schedule_checks`); a later one only brings the check forward, never
        postpones one already due (e.g. asked for by a mail); with `event`, append an event of
        that kind (state unchanged).

        With `expected_kind`, nothing is written and None is returned unless the case's current
        `deadline_kind` equals it (another sweep got there first). Raises UnknownCaseError.
        """
        now = self._now()
        with self._tx("setting a deadline") as session:
            row = self._lock_case(session, case_id, now=now)
            if expected_kind is not None and row.deadline_kind != expected_kind:
                return None
            row.deadline_kind = kind
            row.deadline_at = at
            if check_due_at is not None and (
                check_due_at <= now or row.check_due_at is None or row.check_due_at > check_due_at
            ):  # due now: always written (a running check keeps it); a later one never postpones
                row.check_due_at = check_due_at
            row.updated_at = now
            if event is not None:
                state = CaseState(row.state)
                self._write_event(
                    session, row, at=now, from_state=state, to_state=state, kind=event, detail=detail
                )
            return _tracking(row)

    def expire_deadline(
        self,
        case_id: int,
        *,
        expected_kind: str,
        to_state: CaseState,
        detail: Mapping[str, Any] | None = None,
    ) -> CaseTracking | None:
        """The last deadline passed without an outcome: clear it and move the case to
        `to_state` (checked against the state table) with a `deadline_expired` event.

        Returns None, writing nothing, when the case's deadline is no longer `expected_kind`.
        Raises InvalidTransitionError when the table forbids the change.
        """
        now = self._now()
        with self._tx("expiring a deadline") as session:
            row = self._lock_case(session, case_id, now=now)
            if row.deadline_kind != expected_kind:
                return None
            row.deadline_kind = None
            row.deadline_at = None
            self._set_state(session, row, to_state, now=now, kind="deadline_expired", detail=detail)
            return _tracking(row)

    def request_check(
        self, case_id: int, *, event: str = CHECK_EVENT, detail: Mapping[str, Any] | None = None
    ) -> CaseTracking:
        """Make the case's status check due now (an operator, the demo clock) and append `event`
        (the same event name a mail's check request writes; `detail` tells who asked)."""
        now = self._now()
        with self._tx("requesting a status check") as session:
            row = self._lock_case(session, case_id, now=now)
            row.check_due_at = now
            row.updated_at = now
            state = CaseState(row.state)
            self._write_event(
                session, row, at=now, from_state=state, to_state=state, kind=event, detail=detail
            )
            return _tracking(row)

    def schedule_checks(self, next_checks: Mapping[int, datetime], *, checked_from: datetime) -> int:
        """After a status check that started at `checked_from`, set each case's next
        `check_due_at`, unless something asked for a newer check meanwhile (a `check_due_at`
        after `checked_from` is kept). Returns how many cases were updated. No events."""
        updated = 0
        with self._tx("scheduling status checks") as session:
            for case_id, at in next_checks.items():
                result = session.execute(
                    update(CaseRow)
                    .where(
                        CaseRow.id == case_id,
                        or_(CaseRow.check_due_at.is_(None), CaseRow.check_due_at <= checked_from),
                    )
                    .values(check_due_at=at)
                    .execution_options(synchronize_session=False)
                )
                updated += int(getattr(result, "rowcount", 0) or 0)
        return updated

    # ---- accounts -----------------------------------------------------------------------------
    def account_pace(self, name: str) -> AccountPace:
        """The account's pacing time and order count. Raises UnknownAccountError."""
        with self._tx("reading an account's pacing") as session:
            return _pace(self._account(session, name))

    def set_next_action(self, name: str, at: datetime) -> AccountPace:
        """No portal action on the account before `at` (pacing). Raises UnknownAccountError."""
        with self._tx("pacing an account") as session:
            row = self._account(session, name)
            row.next_action_at = at
            return _pace(row)

    def set_orders_seen(self, name: str, count: int) -> AccountPace:
        """Record how many orders the last scan saw on the account (dispute-share cap)."""
        if count < 0:
            raise ValueError("an order count cannot be negative")
        with self._tx("recording an account's order count") as session:
            row = self._account(session, name)
            row.orders_seen = count
            return _pace(row)

    def paces(self, names: Iterable[str] | None = None) -> list[AccountPace]:
        """Pacing numbers of the named accounts (all when None), by name."""
        query = select(AccountRow).order_by(AccountRow.name)
        if names is not None:
            query = query.where(AccountRow.name.in_(list(names)))
        with self._tx("reading accounts' pacing") as session:
            return [_pace(row) for row in session.execute(query).scalars()]

    def _account(self, session: Any, name: str) -> AccountRow:
        query = select(AccountRow).where(AccountRow.name == name)
        if self._postgres:
            query = query.with_for_update()
        row: AccountRow | None = session.execute(query).scalar_one_or_none()
        if row is None:
            raise UnknownAccountError(f"no account named {name!r}", account=name)
        return row


def _pace(row: AccountRow) -> AccountPace:
    return AccountPace(row.id, row.name, row.next_action_at, row.orders_seen)
