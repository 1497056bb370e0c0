"""Applying one mail message, atomically: its processed-message key, its effects on cases and
the mailbox cursor advance, all in ONE transaction.

The mail poller (`bot/mail/poller.py`) calls :meth:`MailApplyRepository.apply_message` once per
fetched message. Either everything the message causes is written (the key, the check requests
and state changes with their events and outbox rows, the cursor at this UID) or nothing is: a
crash mid-batch re-reads the message on the next poll and handles it exactly once. A message
whose key is already stored (re-listed after a UIDVALIDITY change, or a concurrent poller won
the race) only moves the cursor.

This module knows nothing about mail: the caller passes an :data:`EffectPlanner` that looks at
the open cases of the message's order(s), as locked in this transaction, and says what to do.
The mail side (`bot/mail/effects.py`) only ever asks for status checks, except on accounts the
operator trusts mail for; this module still refuses any move the state table forbids.

A portal mail that matched no rule comes with a :class:`~bot.store.KeptMail` summary, stored in
the same transaction as its key (`bot/store/_unrecognised.py`). :meth:`apply_reclassified`
applies such a mail later, when a changed pack recognises it, exactly once: the kept row is
marked resolved in the transaction that writes the effects, and a resolved row is never
applied again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.models import CaseKind
from bot.states import FINAL_STATES, CaseState, allowed_targets
from bot.store._base import RepoBase
from bot.store._tables import (
    CaseEventRow,
    CaseRow,
    MailCursorRow,
    ProcessedMessageRow,
    UnrecognisedMailRow,
)
from bot.store._unrecognised import KeptMail, kept_row

CHECK_EVENT = "status_check_requested"
"""Event kind written when a mail asks the status poller to read a case's order."""

OUTCOME_EVENT = "mail_outcome"
"""Event kind of a state change made by a mail alone (only on accounts whose mail the operator
trusts: see `bot/mail/effects.py`)."""


@dataclass(frozen=True)
class OpenCase:
    """A case that is not final, as locked inside the message's transaction."""

    id: int
    order_id: str
    kind: CaseKind
    state: CaseState
    state_changed_at: datetime | None = None
    """When the case last changed state (its newest event that moved it, else its creation)."""


@dataclass(frozen=True)
class CaseEffect:
    """What one message does to one case: request a status check and/or move it to `move_to`.

    A move the state table does not allow from the case's current state is not made (the check
    request still is); the event records the refused move. `note` is added to the detail of
    this case's events; `outcome_note` becomes the case's outcome note when it is moved.
    """

    case_id: int
    request_check: bool = True
    move_to: CaseState | None = None
    note: Mapping[str, Any] | None = None
    outcome_note: str | None = None


EffectPlanner = Callable[[Sequence[OpenCase]], Sequence[CaseEffect]]
"""Given the open cases of the message's orders, the effects to apply (called inside the
transaction; an exception rolls the whole message back)."""


@dataclass(frozen=True)
class AppliedMessage:
    """What :meth:`MailApplyRepository.apply_message` wrote."""

    duplicate: bool
    """The key was already processed: only the cursor moved."""
    checked: tuple[int, ...] = ()
    """Cases whose status check was requested."""
    moved: tuple[tuple[int, CaseState], ...] = ()
    """Cases moved, with their new state."""
    kept: bool = False
    """The mail's summary was kept as unrecognised."""

    @property
    def changed_cases(self) -> bool:
        """True when the message had an effect on at least one case."""
        return bool(self.checked or self.moved)


class MailApplyRepository(RepoBase):
    """One transaction per mail message: processed key + effects + cursor."""

    def apply_message(
        self,
        account_id: int,
        mailbox: str,
        *,
        uidvalidity: int,
        uid: int,
        message_key: str | None,
        classification: str | None,
        order_ids: Iterable[str] = (),
        plan: EffectPlanner | None = None,
        detail: Mapping[str, Any] | None = None,
        keep: KeptMail | None = None,
    ) -> AppliedMessage:
        """Handle message `uid` of `mailbox` (under `uidvalidity`) in one transaction.

        With `message_key` None (an oversized message that was never downloaded) only the cursor
        moves. Otherwise the key is recorded; if the account recorded it before (in any folder),
        nothing else happens (``duplicate=True``). Else `plan` is called with the open cases of
        `order_ids` on this account and its effects are written: ``check_due_at`` set to now
        (kept if earlier) with a ``status_check_requested`` event, and allowed moves with a
        ``mail_outcome`` event. `detail` (and each effect's `note`) is copied into the events. Raises
        StoreUnavailableError when the database is unreachable; an exception from `plan`
        propagates and nothing is written. `keep` (a mail that matched no rule) is stored with
        the key, unless the key was processed before.
        """
        orders = tuple(dict.fromkeys(order_ids))
        now = self._now()
        try:
            return self._apply(
                account_id, mailbox, uidvalidity, uid, message_key, classification, orders, plan,
                dict(detail or {}), now, keep,
            )  # fmt: skip
        except InputError as error:
            # Another poller recorded the same key between our check and our insert.
            if message_key is not None and isinstance(error.__cause__, exc.IntegrityError):
                with self._tx("re-checking a processed message") as session:
                    if self._processed(session, account_id, message_key):
                        self._move_cursor(session, account_id, mailbox, uidvalidity, uid, now)
                        return AppliedMessage(duplicate=True)
            raise

    def advance_cursor(self, account_id: int, mailbox: str, *, uidvalidity: int, last_uid: int) -> None:
        """Save the cursor without handling a message (e.g. the start of a reset mailbox).

        A new UIDVALIDITY replaces the stored one; under the same one the cursor never moves back.
        """
        now = self._now()
        with self._tx("saving a mail cursor") as session:
            self._move_cursor(session, account_id, mailbox, uidvalidity, last_uid, now)

    def apply_reclassified(
        self,
        kept_id: int,
        *,
        kind: str,
        order_ids: Iterable[str] = (),
        plan: EffectPlanner | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AppliedMessage | None:
        """Apply kept unrecognised mail `kept_id`, which the current pack now reads as `kind`,
        in one transaction: mark it resolved (only if no one did before), write `plan`'s
        effects on the open cases of `order_ids` of its account as :meth:`apply_message` does,
        and record `kind` on its processed-message row. Returns None, writing nothing, when the
        mail was resolved before (by an earlier or a concurrent run): a kept mail is applied at
        most once. Raises StoreUnavailableError; an exception from `plan` rolls back."""
        orders = tuple(dict.fromkeys(order_ids))
        now = self._now()
        with self._tx("applying a reclassified mail") as session:
            claimed = session.execute(
                update(UnrecognisedMailRow)
                .where(UnrecognisedMailRow.id == kept_id, UnrecognisedMailRow.resolved_at.is_(None))
                .values(resolved_at=now, resolved_kind=kind[:64])
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            row = session.execute(
                select(UnrecognisedMailRow)
                .where(UnrecognisedMailRow.id == kept_id)
                .execution_options(populate_existing=True)
            ).scalar_one()
            checked, moved = self._effects(session, row.account_id, orders, plan, dict(detail or {}), now)
            row.resolution = {
                "kind": kind,
                "order_ids": list(orders),
                "checked": checked,
                "moved": [[case_id, state.value] for case_id, state in moved],
            }
            marker = session.get(ProcessedMessageRow, row.processed_id)
            if marker is not None:
                marker.classification = kind[:64]
                touched = checked + [case_id for case_id, _ in moved]
                if touched and marker.case_id is None:
                    marker.case_id = touched[0]
            session.flush()
            return AppliedMessage(duplicate=False, checked=tuple(checked), moved=tuple(moved))

    # ---- inside the transaction ---------------------------------------------------------------
    def _apply(
        self,
        account_id: int,
        mailbox: str,
        uidvalidity: int,
        uid: int,
        message_key: str | None,
        classification: str | None,
        orders: tuple[str, ...],
        plan: EffectPlanner | None,
        detail: dict[str, Any],
        now: datetime,
        keep: KeptMail | None,
    ) -> AppliedMessage:
        with self._tx("applying a mail message") as session:
            if message_key is None:
                self._move_cursor(session, account_id, mailbox, uidvalidity, uid, now)
                return AppliedMessage(duplicate=False)
            if self._processed(session, account_id, message_key):
                self._move_cursor(session, account_id, mailbox, uidvalidity, uid, now)
                return AppliedMessage(duplicate=True)
            marker = ProcessedMessageRow(
                account_id=account_id,
                mailbox=mailbox,
                message_key=message_key,
                case_id=None,
                classification=classification,
                processed_at=now,
            )
            session.add(marker)
            session.flush()  # a concurrent duplicate fails here, before any effect
            if keep is not None:
                session.add(
                    kept_row(
                        keep, processed_id=marker.id, account_id=account_id, mailbox=mailbox,
                        uidvalidity=uidvalidity, uid=uid, message_key=message_key, now=now,
                    )
                )  # fmt: skip
            checked, moved = self._effects(session, account_id, orders, plan, detail, now)
            touched = checked + [case_id for case_id, _ in moved]
            if touched:
                marker.case_id = touched[0]
            self._move_cursor(session, account_id, mailbox, uidvalidity, uid, now)
            return AppliedMessage(
                duplicate=False, checked=tuple(checked), moved=tuple(moved), kept=keep is not None
            )

    def _effects(
        self,
        session: Session,
        account_id: int,
        orders: tuple[str, ...],
        plan: EffectPlanner | None,
        detail: dict[str, Any],
        now: datetime,
    ) -> tuple[list[int], list[tuple[int, CaseState]]]:
        """Lock the open cases of `orders`, ask `plan` and write its effects (checks, allowed
        moves, their events). Returns (checked case ids, moved cases with their new state)."""
        checked: list[int] = []
        moved: list[tuple[int, CaseState]] = []
        if plan is None or not orders:
            return checked, moved
        rows = self._open_cases(session, account_id, orders)
        changed = self._state_changed_at(session, rows)
        effects = plan([_open(row, changed.get(row.id)) for row in rows.values()])
        for effect in effects:
            row = rows.get(effect.case_id)
            if row is None:
                continue
            move_to = effect.move_to
            note = {**detail, **(effect.note or {})}
            if move_to is not None and move_to not in allowed_targets(CaseState(row.state)):
                note["move_refused"] = move_to.value
                move_to = None
            if effect.request_check:
                self._request_check(session, row, now, note)
                checked.append(row.id)
            if move_to is not None:
                self._set_state(session, row, move_to, now=now, kind=OUTCOME_EVENT, detail=note,
                                outcome_note=effect.outcome_note)  # fmt: skip
                moved.append((row.id, move_to))
        return checked, moved

    @staticmethod
    def _processed(session: Session, account_id: int, message_key: str) -> bool:
        """True when the account processed this key in ANY folder (a message moved from one
        polled folder to another is not applied twice)."""
        found = session.execute(
            select(ProcessedMessageRow.id)
            .where(
                ProcessedMessageRow.account_id == account_id,
                ProcessedMessageRow.message_key == message_key,
            )
            .limit(1)
        ).first()
        return found is not None

    def _open_cases(self, session: Session, account_id: int, orders: tuple[str, ...]) -> dict[int, CaseRow]:
        query = (
            select(CaseRow)
            .where(
                CaseRow.account_id == account_id,
                CaseRow.order_id.in_(orders),
                CaseRow.state.not_in([s.value for s in FINAL_STATES]),
            )
            .order_by(CaseRow.id)
            .execution_options(populate_existing=True)
        )
        if self._postgres:
            query = query.with_for_update(of=CaseRow)
        return {row.id: row for row in session.execute(query).unique().scalars()}

    @staticmethod
    def _state_changed_at(session: Session, rows: Mapping[int, CaseRow]) -> dict[int, datetime]:
        """Case id → when it last changed state (newest event with another from-state)."""
        if not rows:
            return {}
        query = (
            select(CaseEventRow.case_id, func.max(CaseEventRow.at))
            .where(
                CaseEventRow.case_id.in_(list(rows)),
                or_(CaseEventRow.from_state.is_(None), CaseEventRow.from_state != CaseEventRow.to_state),
            )
            .group_by(CaseEventRow.case_id)
        )
        return {case_id: at for case_id, at in session.execute(query).all() if at is not None}

    def _request_check(self, session: Session, row: CaseRow, now: datetime, detail: dict[str, Any]) -> None:
        if row.check_due_at is None or row.check_due_at > now:
            row.check_due_at = now
        row.updated_at = now
        state = CaseState(row.state)
        self._write_event(
            session, row, at=now, from_state=state, to_state=state, kind=CHECK_EVENT, detail=detail
        )

    def _move_cursor(
        self, session: Session, account_id: int, mailbox: str, uidvalidity: int, last_uid: int, now: datetime
    ) -> None:
        """Insert the cursor (a concurrent first insert is not an error: ON CONFLICT DO NOTHING),
        else lock it and move it: a new UIDVALIDITY replaces it, the same one only goes up."""
        insert = postgresql_insert if self._postgres else sqlite_insert
        created = session.execute(
            insert(MailCursorRow)
            .values(
                account_id=account_id,
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                last_uid=last_uid,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["account_id", "mailbox"])
        )
        if getattr(created, "rowcount", 0) == 1:
            return
        query = select(MailCursorRow).where(
            MailCursorRow.account_id == account_id, MailCursorRow.mailbox == mailbox
        )
        if self._postgres:
            query = query.with_for_update()
        row = session.execute(query.execution_options(populate_existing=True)).scalar_one()
        if row.uidvalidity != uidvalidity:
            row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, now
        elif last_uid > row.last_uid:
            row.last_uid, row.updated_at = last_uid, now
        session.flush()


def _open(row: CaseRow, changed_at: datetime | None) -> OpenCase:
    return OpenCase(
        id=row.id,
        order_id=row.order_id,
        kind=CaseKind(row.kind),
        state=CaseState(row.state),
        state_changed_at=changed_at or row.created_at,
    )
