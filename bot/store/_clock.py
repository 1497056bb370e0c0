"""The injected clock and random source every store operation uses.

Logic never calls ``datetime.now()``: it asks the :data:`Clock` it was given, so tests can
freeze or move time. :func:`utc_now` is the production clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


def utc_now() -> datetime:
    """The real clock: now, aware, in UTC."""
    return datetime.now(UTC)


class RandomSource(Protocol):
    """What the backoff jitter needs from a random generator (``random.Random`` fits)."""

    def random(self) -> float:
        """A float in [0, 1)."""
        ...
