"""Recoup's durable state: accounts, cases (with leases, attempts and an append-only event log),
evidence records, mail poller state and the outbox.

SQLite by default (WAL, foreign keys, busy timeout, IMMEDIATE transactions), PostgreSQL by URL
(``postgresql+psycopg2://``). The schema is managed by Alembic migrations in
``bot/store/migrations``; :meth:`Store.open` and :func:`migrate` upgrade to head.

SQLAlchemy errors never leave this package: unreachable / locked → StoreUnavailableError,
constraint violations → InputError subclasses (DuplicateCaseError, ...).
"""

from bot.store._clock import Clock, RandomSource, utc_now
from bot.store._mail_apply import AppliedMessage, CaseEffect, EffectPlanner, OpenCase
from bot.store._migrate import current_revision, head_revision, migrate
from bot.store._outbox import OutboxMessage
from bot.store._reporting import CaseReportRow, WebhookSummary
from bot.store._repository import CaseRepository
from bot.store._retry import RetryPolicy
from bot.store._scheduler_lock import LockHolder
from bot.store._store import Store
from bot.store._unrecognised import KeptMail, OpenCaseRef, UnrecognisedMail

__all__ = [
    "AppliedMessage",
    "CaseEffect",
    "CaseReportRow",
    "CaseRepository",
    "Clock",
    "EffectPlanner",
    "KeptMail",
    "LockHolder",
    "OpenCase",
    "OpenCaseRef",
    "OutboxMessage",
    "RandomSource",
    "RetryPolicy",
    "Store",
    "UnrecognisedMail",
    "WebhookSummary",
    "current_revision",
    "head_revision",
    "migrate",
    "utc_now",
]
