"""Retry budgets and the backoff schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.store._clock import RandomSource


@dataclass(frozen=True)
class RetryPolicy:
    """Two budgets, as in crawlee: ordinary attempts and session (re-login) attempts.

    The n-th retry waits ``min(max_seconds, base_seconds * factor**(n-1))`` scaled by a random
    factor in ``[1 - jitter, 1 + jitter)`` drawn from the injected random source.
    """

    max_attempts: int = 5
    """Attempts counted on the ordinary budget before the case fails."""
    max_session_attempts: int = 3
    """Session failures (re-login needed) before the case fails."""
    base_seconds: float = 60.0
    """Wait before the first retry."""
    factor: float = 2.0
    """Growth of the wait per retry."""
    max_seconds: float = 3600.0
    """Longest wait between two attempts (before jitter)."""
    jitter: float = 0.2
    """Relative spread of the random factor (0 = none)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_session_attempts < 1:
            raise ValueError("retry budgets must be at least 1")
        if self.base_seconds < 0 or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("invalid backoff parameters")

    def delay(self, retry_number: int, rng: RandomSource) -> timedelta:
        """The wait before retry `retry_number` (1-based), with jitter from `rng`."""
        raw = min(self.max_seconds, self.base_seconds * self.factor ** (retry_number - 1))
        spread = 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
        return timedelta(seconds=raw * spread)
