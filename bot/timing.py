"""Phase timings of one piece of work, logged as one INFO line: where a case's time goes.

    watch = Stopwatch(f"case {case.id}")
    ...                      # open the session
    watch.lap("open")
    ...
    watch.log()              # "case 7: timings open 0.21 s, login 0.80 s, ... total 3.02 s"

A lap is the wall time since the previous lap (or the start). Laps of the same name add up.
Only names and durations are logged: never values, so never secrets. Nothing here raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from loguru import logger


class Stopwatch:
    """Wall-clock laps of one piece of work (see the module docstring)."""

    def __init__(self, what: str, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.what = what
        self._clock = clock
        self._start = self._last = clock()
        self.laps: dict[str, float] = {}
        """Phase name → seconds, in the order first seen."""

    def lap(self, phase: str) -> float:
        """Close the phase that ran since the last lap under `phase`; returns its seconds."""
        now = self._clock()
        spent = now - self._last
        self._last = now
        self.laps[phase] = self.laps.get(phase, 0.0) + spent
        return spent

    @property
    def total(self) -> float:
        """Seconds since the stopwatch started."""
        return self._clock() - self._start

    def line(self) -> str:
        """`name 0.12 s, ... total 1.23 s`."""
        parts = [f"{name} {seconds:.2f} s" for name, seconds in self.laps.items()]
        return ", ".join([*parts, f"total {self.total:.2f} s"])

    def log(self) -> None:
        """Log the laps as one INFO line."""
        logger.info("{}: timings {}", self.what, self.line())


__all__ = ["Stopwatch"]
