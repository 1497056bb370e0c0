"""The outbox: events waiting for delivery to a target (webhook, export).

Rows are written with their event, in the same transaction, for each target the store was
opened with (`Store.open(..., outbox_targets=("webhook",))`). Delivery (`bot/outbox.py`)
loops: :meth:`OutboxRepository.due` → send → :meth:`~OutboxRepository.mark_delivered`,
:meth:`~OutboxRepository.mark_failed` with the next try time, or
:meth:`~OutboxRepository.mark_dead` once the retry budget is used up (a dead letter is never due
again). Delivery is at least once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.errors import InputError
from bot.store._base import RepoBase
from bot.store._tables import OutboxRow


@dataclass(frozen=True)
class OutboxMessage:
    """One pending (or delivered) delivery of an event to a target."""

    id: int
    event_id: int
    target: str
    payload: dict[str, Any]
    attempts: int
    next_try_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    dead_at: datetime | None = None
    """When the retry budget was used up (a dead letter); None while pending or delivered."""


def message_of(row: OutboxRow) -> OutboxMessage:
    """The message of an outbox row."""
    return OutboxMessage(
        row.id,
        row.event_id,
        row.target,
        dict(row.payload),
        row.attempts,
        row.next_try_at,
        row.delivered_at,
        row.last_error,
        row.dead_at,
    )


class OutboxRepository(RepoBase):
    """Read and settle outbox rows."""

    def enqueue(self, event_id: int, target: str, payload: dict[str, Any]) -> OutboxMessage:
        """Add a delivery for an existing event explicitly. InputError if (event, target) exists
        or the event does not."""
        now = self._now()
        with self._tx("queueing an outbox message") as session:
            row = OutboxRow(
                event_id=event_id,
                target=target,
                payload=payload,
                attempts=0,
                next_try_at=now,
                created_at=now,
            )
            session.add(row)
            session.flush()
            return message_of(row)

    def due(self, *, target: str | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Undelivered, not dead messages whose next try time has come, oldest first."""
        now = self._now()
        query = (
            select(OutboxRow)
            .where(
                OutboxRow.delivered_at.is_(None), OutboxRow.dead_at.is_(None), OutboxRow.next_try_at <= now
            )
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        if target is not None:
            query = query.where(OutboxRow.target == target)
        with self._tx("reading the outbox") as session:
            return [message_of(row) for row in session.execute(query).scalars()]

    def mark_delivered(self, message_id: int) -> None:
        """The target accepted the message; it is never sent again."""
        now = self._now()
        with self._tx("settling an outbox message") as session:
            row = self._get(session, message_id)
            row.attempts += 1
            row.delivered_at = now
            row.last_error = None

    def mark_failed(self, message_id: int, error: str, *, retry_at: datetime) -> None:
        """Delivery failed; try again at `retry_at`. `error` must not contain secrets."""
        with self._tx("settling an outbox message") as session:
            row = self._get(session, message_id)
            row.attempts += 1
            row.next_try_at = retry_at
            row.last_error = error[:2000]

    def mark_dead(self, message_id: int, error: str) -> None:
        """The last allowed try failed: record it and make the message a dead letter, never due
        again (kept for `cases show`, the export and the outbox log). `error` must not contain
        secrets."""
        now = self._now()
        with self._tx("settling an outbox message") as session:
            row = self._get(session, message_id)
            row.attempts += 1
            row.last_error = error[:2000]
            row.dead_at = now

    @staticmethod
    def _get(session: Any, message_id: int) -> OutboxRow:
        row: OutboxRow | None = session.get(OutboxRow, message_id)
        if row is None:
            raise InputError(f"no outbox message {message_id}")
        return row
