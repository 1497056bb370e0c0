"""One heartbeat for everything Recoup holds for a while: a case's lease (the dispatcher), the
store's scheduler lock (the scheduler) and an account's lock (a one-off CLI run).

    async with heartbeat(renew, every_s, what="case 7 lease", lost=LeaseLostError, on_lost=stop):
        ...  # work while the hold is renewed

Promises:

* `renew()` is awaited every `every_s` seconds (the first time `every_s` after the start), one
  renewal at a time, in a task of its own, until the heartbeat stops or the hold is lost;
* a renewal raising one of the `lost` errors means the hold is gone for good: `on_lost(error)` is
  awaited once and the heartbeat ends (:attr:`Heartbeat.lost` keeps the error);
* any other :class:`~bot.errors.RecoupError` (e.g. the store briefly away) is logged as a warning
  and the next beat tries again — the hold may still stand, it expires on its own otherwise;
* any other exception (a bug) is logged as an error and ends the heartbeat; it is never raised
  into the body;
* stopping (leaving the block, or :meth:`Heartbeat.stop`) cancels the wait or a running
  `on_lost`, but lets a renewal already under way finish first, so that a release after the
  block never races a renewal. Stopping twice is fine.

Waiting uses `sleep` (injectable: tests drive the cadence with a fake).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from loguru import logger

from bot.errors import RecoupError

Renew = Callable[[], Awaitable[object]]
"""Renews the hold once; raises a `lost` error when it is gone, another RecoupError on a hiccup."""

OnLost = Callable[[RecoupError], Awaitable[None]]
"""Told once, with the error, that the hold is lost."""

LostErrors = type[RecoupError] | tuple[type[RecoupError], ...]


class Heartbeat:
    """Renews one hold on a cadence in a background task (see the module docstring)."""

    def __init__(
        self,
        renew: Renew,
        every_s: float,
        *,
        what: str,
        lost: LostErrors = (),
        on_lost: OnLost | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if every_s <= 0:
            raise ValueError(f"heartbeat interval must be positive, not {every_s}")
        self.renew = renew
        self.every_s = every_s
        self.what = what
        self._lost_types = lost
        self._on_lost = on_lost
        self._sleep = sleep
        self.beats = 0
        """Renewals that succeeded."""
        self.lost: RecoupError | None = None
        """The error that told the hold was lost; None while it stands."""
        self._task: asyncio.Task[None] | None = None
        self._renewal: asyncio.Future[object] | None = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of the heartbeat (stopped, lost or broken)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start beating in a background task (named `heartbeat: <what>`). Starting a running
        heartbeat does nothing."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"heartbeat: {self.what}")

    async def stop(self) -> None:
        """Stop beating: cancel the wait (or `on_lost`), let a renewal under way finish.
        Never raises what the heartbeat met; the caller's own cancellation passes through."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        renewal = self._renewal
        if renewal is not None and not renewal.done():
            await asyncio.wait({renewal})
        if renewal is not None and renewal.done() and not renewal.cancelled():
            renewal.exception()  # seen: its outcome no longer matters once stopped

    async def beat(self) -> bool:
        """Renew once now, with the policy above. Returns False when the hold is lost (after
        `on_lost` ran), True otherwise (renewed, or a hiccup to retry)."""
        if self.lost is not None:
            return False
        self._renewal = renewal = asyncio.ensure_future(self.renew())
        try:
            await asyncio.shield(renewal)
        except RecoupError as error:
            if self._lost_types and isinstance(error, self._lost_types):
                self.lost = error
                if self._on_lost is not None:
                    await self._on_lost(error)
                return False
            logger.warning("{}: renewal failed, retrying: {}: {}", self.what, type(error).__name__, error)
        else:
            self.beats += 1
        return True

    async def _run(self) -> None:
        while self.lost is None:
            await self._sleep(self.every_s)
            try:
                if not await self.beat():
                    return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug in renew or on_lost: say so, stop beating
                logger.error("{}: heartbeat stopped: {}: {}", self.what, type(error).__name__, error)
                return

    async def __aenter__(self) -> Heartbeat:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@asynccontextmanager
async def heartbeat(
    renew: Renew,
    every_s: float,
    *,
    what: str,
    lost: LostErrors = (),
    on_lost: OnLost | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[Heartbeat]:
    """Renew a hold every `every_s` seconds while the block runs (see the module docstring)."""
    async with Heartbeat(renew, every_s, what=what, lost=lost, on_lost=on_lost, sleep=sleep) as beating:
        yield beating


__all__ = ["Heartbeat", "LostErrors", "OnLost", "Renew", "heartbeat"]
