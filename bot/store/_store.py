"""The Store: one engine, migrated to head, and the repositories sharing it."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.store._accounts import AccountRepository
from bot.store._clock import Clock, RandomSource, utc_now
from bot.store._dispatch import DispatchRepository
from bot.store._engine import make_engine, sql_errors
from bot.store._evidence import EvidenceRepository
from bot.store._intake import IntakeRepository
from bot.store._mail import MailStateRepository
from bot.store._mail_apply import MailApplyRepository
from bot.store._migrate import migrate_engine
from bot.store._outbox import OutboxRepository
from bot.store._reporting import ReportingRepository
from bot.store._repository import CaseRepository
from bot.store._retry import RetryPolicy
from bot.store._scheduler_lock import SchedulerLockRepository
from bot.store._tracking import TrackingRepository
from bot.store._unrecognised import UnrecognisedMailRepository


class Store:
    """Access to Recoup's database. Thread-safe: every call opens its own short transaction.

    Create it with :meth:`open`; call :meth:`close` (or use it as a context manager) when done.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utc_now,
        retry: RetryPolicy | None = None,
        rng: RandomSource | None = None,
        outbox_targets: tuple[str, ...] = (),
    ) -> None:
        self.engine = engine
        self.clock = clock
        sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        postgres = engine.dialect.name == "postgresql"
        self.accounts = AccountRepository(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        """Accounts and their secret references."""
        self.cases = CaseRepository(
            sessions, clock, postgres=postgres, outbox_targets=outbox_targets, retry=retry, rng=rng
        )
        """Cases, leases, attempts, events."""
        self.evidence = EvidenceRepository(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        """Evidence records."""
        self.mail = MailStateRepository(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        """Mail cursors and processed messages."""
        self.outbox = OutboxRepository(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        """Deliveries waiting for webhooks / exports."""
        self.dispatch = DispatchRepository(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        """Claims that honour account pacing (the dispatcher's)."""
        self.intake = IntakeRepository(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        """Atomic case creation with guard and evidence (`bot.cases.create_case`)."""
        self.tracking = TrackingRepository(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        """Status-check times, deadlines, account pacing and order counts."""
        self.scheduler_lock = SchedulerLockRepository(
            sessions, clock, postgres=postgres, outbox_targets=outbox_targets
        )
        """At most one running scheduler per store."""
        self.mail_apply = MailApplyRepository(
            sessions, clock, postgres=postgres, outbox_targets=outbox_targets
        )
        """One mail message per transaction: processed key, effects on cases, cursor."""
        self.reporting = ReportingRepository(
            sessions, clock, postgres=postgres, outbox_targets=outbox_targets
        )
        """Read-only views: outbox delivery log, case rows for exports."""
        self.unrecognised = UnrecognisedMailRepository(
            sessions, clock, postgres=postgres, outbox_targets=outbox_targets
        )
        """Portal mail that matched no rule, kept for `recoup mail unrecognised|reclassify`."""

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock = utc_now,
        retry: RetryPolicy | None = None,
        rng: RandomSource | None = None,
        outbox_targets: tuple[str, ...] = (),
        migrate: bool = True,
        busy_timeout_seconds: float = 30.0,
    ) -> Store:
        """Connect to `url`, upgrade the schema to head (unless `migrate=False`) and return a Store.

        Raises StoreUnavailableError when the database cannot be reached, ConfigError for a
        malformed or unsupported URL.
        """
        engine = make_engine(url, busy_timeout_seconds=busy_timeout_seconds)
        try:
            if migrate:
                migrate_engine(engine)
            else:
                with sql_errors("connecting"), engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock=clock, retry=retry, rng=rng, outbox_targets=outbox_targets)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
