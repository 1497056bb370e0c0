"""The store's tables (SQLAlchemy 2 typed declarative).

The schema itself is created by the Alembic migrations in `bot/store/migrations`; these classes
must match them (a test compares the migrated database with this metadata).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.store._types import DecimalString, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (migrations refer to them)."""

    metadata = MetaData(naming_convention=NAMING)


class AccountRow(Base):
    """A portal account. Only secret *references* are stored (checked by a constraint)."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("password_ref LIKE 'env:%' OR password_ref LIKE 'file:%'", name="password_is_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    mailbox_user: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(16))
    portal: Mapped[str] = mapped_column(String(32))
    password_ref: Mapped[str] = mapped_column(String(160))
    totp_ref: Mapped[str | None] = mapped_column(String(160))
    mailbox_password_ref: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Pacing: no portal action on this account before this time (migration 0002)."""
    orders_seen: Mapped[int | None] = mapped_column(Integer)
    """How many orders the last status scan saw on the account (for the dispute-share cap)."""


class CaseRow(Base):
    """One cancellation or refund request, its state, lease and retry bookkeeping."""

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("account_id", "order_id", "kind"),
        Index("ix_cases_state_due", "state", "next_attempt_at"),
        Index("ix_cases_account_lease", "account_id", "lease_expires_at"),
        Index("ix_cases_state_check_due", "state", "check_due_at"),  # migration 0005
        Index(  # migration 0005: only leased cases (few), so NULLs never mislead a planner
            "ix_cases_leased",
            "lease_expires_at",
            sqlite_where=text("lease_owner IS NOT NULL"),
            postgresql_where=text("lease_owner IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    order_id: Mapped[str] = mapped_column(String(19))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    refund_type: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[Decimal | None] = mapped_column(DecimalString())
    currency: Mapped[str | None] = mapped_column(String(3))
    item_line: Mapped[int | None] = mapped_column(Integer)
    """Refund cases: the order's item line asked for (1-based, as the operator counts); None: the
    first line without a request (migration 0006)."""
    evidence_folder: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    session_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submit_intent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    portal_request_ref: Mapped[str | None] = mapped_column(String(128))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome_amount: Mapped[Decimal | None] = mapped_column(DecimalString())
    outcome_note: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    check_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the status poller should next read this case's order (a mail sets it to now)."""
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """The next portal deadline of this case (seller reply window, escalation, protection end)."""
    deadline_kind: Mapped[str | None] = mapped_column(String(32))
    """What `deadline_at` is: cancel_window, seller_reply, escalation, protection_expiry."""

    account: Mapped[AccountRow] = relationship(lazy="joined")


class AttemptRow(Base):
    """One finished run of a case."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("case_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str | None] = mapped_column(String(16))
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    budget_exhausted: Mapped[bool] = mapped_column(Boolean)


class CaseEventRow(Base):
    """Append-only history (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_id_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class EvidenceRow(Base):
    """A file in the case's evidence folder with its checksum."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("case_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(Text)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MailCursorRow(Base):
    """How far the poller has read one mailbox: (UIDVALIDITY, last UID)."""

    __tablename__ = "mail_cursors"
    __table_args__ = (UniqueConstraint("account_id", "mailbox"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    mailbox: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessedMessageRow(Base):
    """A mail message already handled (never handled twice)."""

    __tablename__ = "processed_messages"
    __table_args__ = (UniqueConstraint("account_id", "mailbox", "message_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    mailbox: Mapped[str] = mapped_column(String(255))
    message_key: Mapped[str] = mapped_column(String(255))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    classification: Mapped[str | None] = mapped_column(String(64))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UnrecognisedMailRow(Base):
    """A portal mail that matched no rule, kept for `recoup mail unrecognised|reclassify`.

    One per processed message (written in the same transaction). `content` holds what a
    reclassification needs (headers without MIME/Received/signatures, the subject and text
    with login codes masked, links without query secrets); `resolved_*` is set once, by the
    reclassification that applied it."""

    __tablename__ = "unrecognised_mail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    processed_id: Mapped[int] = mapped_column(ForeignKey("processed_messages.id"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    mailbox: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_key: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(320))
    accepted_as: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    order_ids: Mapped[list[str]] = mapped_column(JSON)
    excerpt: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    kept_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_kind: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OutboxRow(Base):
    """An event waiting to be delivered to one target (webhook, export, ...)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("event_id", "target"),
        Index("ix_outbox_due", "delivered_at", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("case_events.id"))
    target: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when the retry budget was used up: the row is a dead letter, never sent again."""


class SchedulerLockRow(Base):
    """At most one running scheduler per store: the holder renews `expires_at` while it lives."""

    __tablename__ = "scheduler_lock"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
