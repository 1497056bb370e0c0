"""The case repository: one class composed of small, single-purpose parts."""

from __future__ import annotations

import random

from sqlalchemy.orm import Session, sessionmaker

from bot.store._attempts import AttemptOps
from bot.store._cases import CaseCore
from bot.store._clock import Clock, RandomSource
from bot.store._leases import LeaseOps
from bot.store._retry import RetryPolicy


class CaseRepository(CaseCore, LeaseOps, AttemptOps):
    """Everything about cases: get / list / transition (CaseCore), claim with a lease
    (LeaseOps), attempts and retry budgets (AttemptOps).

    Contract for a worker: ``store.dispatch.claim_next_ready`` (or ``claim`` for one given
    case) → work, ``renew_lease`` while it lasts →
    ``mark_submit_intent`` right before the irreversible click → ``transition`` to the result
    (which frees the lease) or, on a failure, ``record_failure``: the attempt and the move the
    one failure policy (:func:`bot.states.after_failure`) decides (back to ``queued``, on to
    ``failed`` / ``needs_human``, or stay), in one transaction. ``reclaim_expired`` at start-up
    frees leases of dead workers.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        *,
        postgres: bool,
        outbox_targets: tuple[str, ...] = (),
        retry: RetryPolicy | None = None,
        rng: RandomSource | None = None,
    ) -> None:
        super().__init__(sessions, clock, postgres=postgres, outbox_targets=outbox_targets)
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()

    @property
    def retry_policy(self) -> RetryPolicy:
        """The budgets and backoff this repository applies."""
        return self._retry
