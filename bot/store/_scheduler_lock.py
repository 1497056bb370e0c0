"""The scheduler lock: at most one running scheduler per store.

A row in `scheduler_lock` names the owner and when its claim runs out (`expires_at`, from the
store's injected clock). The holder renews it on a heartbeat; anyone may take over a lock whose
`expires_at` has passed (its holder died). Taking, renewing and releasing are each one short
transaction; on PostgreSQL the row is locked while it is read, and two processes inserting the
first row at once are told apart by the primary key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exc, select

from bot.errors import InputError, SchedulerLockedError
from bot.store._base import RepoBase
from bot.store._tables import SchedulerLockRow

DEFAULT_LOCK = "scheduler"
"""Name of the one scheduler lock row."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock and until when."""

    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


def _holder(row: SchedulerLockRow) -> LockHolder:
    return LockHolder(row.name, row.owner, row.acquired_at, row.expires_at)


class SchedulerLockRepository(RepoBase):
    """Acquire, renew, release and inspect the scheduler lock."""

    def acquire(self, owner: str, *, ttl_seconds: float, name: str = DEFAULT_LOCK) -> LockHolder:
        """Take the lock for `owner` until now + `ttl_seconds` and return it.

        Succeeds when nobody holds it, `owner` holds it already, or the holder's lock has
        expired (a dead process: taken over). Raises SchedulerLockedError (naming the holder and
        its expiry) when another owner's lock is still live; StoreUnavailableError when the
        database cannot be reached.
        """
        now = self._now()
        expires = now + timedelta(seconds=ttl_seconds)
        try:
            with self._tx("taking the scheduler lock") as session:
                query = select(SchedulerLockRow).where(SchedulerLockRow.name == name)
                if self._postgres:
                    query = query.with_for_update()
                row = session.execute(query).scalar_one_or_none()
                if row is None:
                    row = SchedulerLockRow(name=name, owner=owner, acquired_at=now, expires_at=expires)
                    session.add(row)
                    session.flush()
                    return _holder(row)
                if row.owner != owner and row.expires_at > now:
                    raise self._locked(row)
                if row.owner != owner:
                    row.acquired_at = now
                row.owner = owner
                row.expires_at = expires
                return _holder(row)
        except InputError as error:
            if isinstance(error.__cause__, exc.IntegrityError):  # another process inserted first
                current = self.holder(name)
                raise SchedulerLockedError(
                    f"another scheduler took the {name} lock at the same moment",
                    owner=current.owner if current else None,
                ) from error
            raise

    def renew(self, owner: str, *, ttl_seconds: float, name: str = DEFAULT_LOCK) -> LockHolder:
        """Extend `owner`'s lock to now + `ttl_seconds`.

        Raises SchedulerLockedError when `owner` no longer holds it (it expired and another
        scheduler took it over, or it was released): the caller must stop scheduling.
        An expired lock nobody took over is renewed (the holder was only late).
        """
        now = self._now()
        with self._tx("renewing the scheduler lock") as session:
            query = select(SchedulerLockRow).where(SchedulerLockRow.name == name)
            if self._postgres:
                query = query.with_for_update()
            row = session.execute(query).scalar_one_or_none()
            if row is None or row.owner != owner:
                raise SchedulerLockedError(
                    f"the {name} lock is no longer held by this scheduler",
                    owner=row.owner if row else None,
                )
            row.expires_at = now + timedelta(seconds=ttl_seconds)
            return _holder(row)

    def release(self, owner: str, *, name: str = DEFAULT_LOCK) -> bool:
        """Drop the lock if `owner` holds it; True when a row was removed."""
        with self._tx("releasing the scheduler lock") as session:
            result = session.execute(
                delete(SchedulerLockRow).where(SchedulerLockRow.name == name, SchedulerLockRow.owner == owner)
            )
            return bool(getattr(result, "rowcount", 0))

    def holder(self, name: str = DEFAULT_LOCK) -> LockHolder | None:
        """The current lock row (live or expired), or None."""
        with self._tx("reading the scheduler lock") as session:
            row = session.execute(
                select(SchedulerLockRow).where(SchedulerLockRow.name == name)
            ).scalar_one_or_none()
            return None if row is None else _holder(row)

    @staticmethod
    def _locked(row: SchedulerLockRow) -> SchedulerLockedError:
        return SchedulerLockedError(
            f"another scheduler ({row.owner}) holds the {row.name} lock until "
            f"{row.expires_at.isoformat()}; stop it first, or wait for the lock to expire if it died",
            owner=row.owner,
            expires_at=row.expires_at.isoformat(),
        )
