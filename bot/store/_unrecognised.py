"""Portal mail that matched no rule, kept so that nothing is buried.

The mail poller hands a :class:`KeptMail` to :meth:`bot.store.MailApplyRepository.apply_message`,
which stores it in the same transaction as the message's processed key. `recoup mail
unrecognised` lists them (:meth:`UnrecognisedMailRepository.list_kept`); `recoup mail reclassify`
runs the current pack over them and applies what now matches through
:meth:`bot.store.MailApplyRepository.apply_reclassified`, which marks a kept mail resolved in
the transaction that applies it, at most once.

This module knows nothing about mail formats: the summary is built (and any login code masked)
on the mail side, `bot/mail/summary.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bot.models import CaseKind
from bot.states import FINAL_STATES, CaseState
from bot.store._base import RepoBase
from bot.store._tables import AccountRow, CaseRow, UnrecognisedMailRow


@dataclass(frozen=True)
class KeptMail:
    """The parsed summary of one unrecognised portal mail, as the poller keeps it (no secrets)."""

    sender: str
    """The From address (or the address the classifier accepted)."""
    subject: str
    """The subject, login codes masked."""
    sent_at: datetime | None
    """The Date header."""
    received_at: datetime | None
    """The server's INTERNALDATE."""
    order_ids: tuple[str, ...]
    """Order ids seen in the mail (subject, text, links)."""
    excerpt: str
    """The start of the text, digit runs that may be codes masked."""
    content: dict[str, Any]
    """What a reclassification rebuilds the message from (see `bot/mail/summary.py`)."""
    accepted_as: str | None = None
    """How the sender was accepted as the portal's, when known."""


@dataclass(frozen=True)
class UnrecognisedMail:
    """A kept mail as read back, with where it came from and whether it was applied since."""

    id: int
    account: str
    mailbox: str
    uidvalidity: int
    uid: int
    message_key: str
    kept_at: datetime
    mail: KeptMail
    resolved_at: datetime | None = None
    resolved_kind: str | None = None
    resolution: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, *, content: bool = False) -> dict[str, Any]:
        """Plain JSON values (the rebuild `content` only when asked)."""
        out: dict[str, Any] = {
            "id": self.id,
            "account": self.account,
            "mailbox": self.mailbox,
            "uidvalidity": self.uidvalidity,
            "uid": self.uid,
            "message_key": self.message_key,
            "sender": self.mail.sender,
            "accepted_as": self.mail.accepted_as,
            "subject": self.mail.subject,
            "date": _iso(self.mail.sent_at),
            "internal_date": _iso(self.mail.received_at),
            "order_ids": list(self.mail.order_ids),
            "excerpt": self.mail.excerpt,
            "kept_at": _iso(self.kept_at),
            "resolved_at": _iso(self.resolved_at),
            "resolved_kind": self.resolved_kind,
            "resolution": self.resolution or None,
        }
        if content:
            out["content"] = self.mail.content
        return out


@dataclass(frozen=True)
class OpenCaseRef:
    """An open case of an order, for showing what a mail would do."""

    id: int
    account: str
    order_id: str
    kind: CaseKind
    state: CaseState


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def kept_row(
    kept: KeptMail,
    *,
    processed_id: int,
    account_id: int,
    mailbox: str,
    uidvalidity: int,
    uid: int,
    message_key: str,
    now: datetime,
) -> UnrecognisedMailRow:
    """The row that stores `kept` (added by the caller inside its transaction)."""
    return UnrecognisedMailRow(
        processed_id=processed_id,
        account_id=account_id,
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        message_key=message_key,
        sender=kept.sender[:320],
        accepted_as=(kept.accepted_as or None) and kept.accepted_as[:255],
        subject=kept.subject,
        sent_at=kept.sent_at,
        received_at=kept.received_at,
        order_ids=list(kept.order_ids),
        excerpt=kept.excerpt,
        content=kept.content,
        kept_at=now,
    )


def _read(row: UnrecognisedMailRow, account: str) -> UnrecognisedMail:
    return UnrecognisedMail(
        id=row.id,
        account=account,
        mailbox=row.mailbox,
        uidvalidity=row.uidvalidity,
        uid=row.uid,
        message_key=row.message_key,
        kept_at=row.kept_at,
        mail=KeptMail(
            sender=row.sender,
            subject=row.subject,
            sent_at=row.sent_at,
            received_at=row.received_at,
            order_ids=tuple(row.order_ids or ()),
            excerpt=row.excerpt,
            content=dict(row.content or {}),
            accepted_as=row.accepted_as,
        ),
        resolved_at=row.resolved_at,
        resolved_kind=row.resolved_kind,
        resolution=dict(row.resolution or {}),
    )


class UnrecognisedMailRepository(RepoBase):
    """Read access to the kept unrecognised mail (written by the mail transaction)."""

    def list_kept(self, *, account: str | None = None, pending_only: bool = False) -> list[UnrecognisedMail]:
        """Kept mails, oldest first; `pending_only`: those no reclassification applied yet.
        Raises StoreUnavailableError."""
        with self._tx("listing unrecognised mail") as session:
            query = (
                select(UnrecognisedMailRow, AccountRow.name)
                .join(AccountRow, AccountRow.id == UnrecognisedMailRow.account_id)
                .order_by(UnrecognisedMailRow.id)
            )
            if account is not None:
                query = query.where(AccountRow.name == account)
            if pending_only:
                query = query.where(UnrecognisedMailRow.resolved_at.is_(None))
            return [_read(row, name) for row, name in session.execute(query).all()]

    def count(self, *, pending_only: bool = True) -> int:
        """How many are kept (by default: still unapplied)."""
        with self._tx("counting unrecognised mail") as session:
            query = select(func.count()).select_from(UnrecognisedMailRow)
            if pending_only:
                query = query.where(UnrecognisedMailRow.resolved_at.is_(None))
            return int(session.execute(query).scalar_one())

    def open_cases(self, order_ids: Iterable[str], *, account: str | None = None) -> list[OpenCaseRef]:
        """The open (not final) cases of `order_ids`, on every account or on `account`."""
        orders = list(dict.fromkeys(order_ids))
        if not orders:
            return []
        with self._tx("finding the open cases of orders") as session:
            query = (
                select(CaseRow.id, AccountRow.name, CaseRow.order_id, CaseRow.kind, CaseRow.state)
                .join(AccountRow, AccountRow.id == CaseRow.account_id)
                .where(
                    CaseRow.order_id.in_(orders),
                    CaseRow.state.not_in([s.value for s in FINAL_STATES]),
                )
                .order_by(CaseRow.id)
            )
            if account is not None:
                query = query.where(AccountRow.name == account)
            return [
                OpenCaseRef(case_id, name, order_id, CaseKind(kind), CaseState(state))
                for case_id, name, order_id, kind, state in session.execute(query).all()
            ]
