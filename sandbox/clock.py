"""The sandbox clock: real time plus an offset that tests can advance.

Only moves forward. Advancing does not run anything itself; the portal state processes due
seller events whenever it is touched (see `PortalState.process_due`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Offset clock; `start` fixes what `now()` says at construction (default: the real time)."""

    def __init__(self, start: datetime | None = None) -> None:
        real = datetime.now(UTC)
        if start is not None and start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._offset = (start - real) if start else timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Current sandbox time (timezone-aware UTC)."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward; negative values raise ValueError. Returns the new time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()
