"""APScheduler wiring: jobs that only tick. All durable work state (cases, leases, attempts,
check times, deadlines, outbox) lives in the store, so a crash or restart loses nothing and
repeats nothing; APScheduler only keeps, in memory, when each tick is next due.

Jobs (explicit ids, `replace_existing`, `coalesce=True`, `max_instances=1`, misfire grace
`settings.misfire_grace_minutes`):

==================  =========================================  ================================
id                  interval setting                           tick
==================  =========================================  ================================
recoup.dispatch     dispatch_interval_seconds                  run due queued cases
recoup.status       status_poll_interval_seconds               status checks due (per account)
recoup.mail         mailbox_poll_interval_seconds              poll mailboxes (if a poller)
recoup.deadlines    deadline_sweep_interval_seconds            sweep passed deadlines
recoup.outbox       outbox_interval_seconds                    deliver outbox (if a deliverer)
==================  =========================================  ================================

The job store is APScheduler's memory job store and every job is a bound method of the running
:class:`RecoupScheduler` (nothing is written to the database; every start schedules all jobs due
at once). Databases used by earlier versions may hold an `apscheduler_jobs` table that
APScheduler created there; nothing reads it any more and it is left alone (harmless). A late
tick runs once (coalesced); one later than the grace is reported missed (logged); a failed tick
is logged; neither stops the scheduler; a tick still running when the scheduler shuts down is
cancelled quietly (its work is in the store).

Only one scheduler may run per store: :meth:`RecoupScheduler.start` takes the `scheduler_lock`
row (owner + expiry from the injected clock) or raises SchedulerLockedError; a heartbeat renews
it every third of `scheduler_lock_ttl_seconds` (:mod:`bot.heartbeat`); a lock whose holder died
is taken over once it has expired. If the lock is lost while running, scheduling pauses and
in-flight work drains.

APScheduler times its jobs with the real clock; every tick's own logic uses the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from bot.config import Settings
from bot.deadlines import sweep
from bot.errors import RecoupError, SchedulerLockedError
from bot.heartbeat import Heartbeat
from bot.store import Store

Clock = Callable[[], datetime]

DISPATCH, STATUS, MAIL, DEADLINES, OUTBOX = (
    "recoup.dispatch",
    "recoup.status",
    "recoup.mail",
    "recoup.deadlines",
    "recoup.outbox",
)


class Ticking(Protocol):
    """What the scheduler needs from the dispatcher (:class:`bot.dispatcher.Dispatcher`)."""

    async def tick(self) -> object:
        """Start due queued cases."""
        ...

    async def check_tick(self) -> object:
        """Start due status checks."""
        ...

    async def drain(self, grace_seconds: float) -> object:
        """Stop claiming; finish or release in-flight work."""
        ...


class MailPolling(Protocol):
    """The mail poller (`bot.mail.poller.MailPoller`); sync or async `poll_account`."""

    def poll_account(self, account_name: str) -> object:
        """Read the account's mailbox and apply what is new."""
        ...


OutboxDelivery = Callable[[], object]
"""Delivers due outbox rows once, sync or async (e.g. a partial of `bot.outbox.deliver_due`)."""


async def _call(function: Callable[..., object], *args: object) -> object:
    """Run a sync callable in a worker thread; await what it returns if that is awaitable."""
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    result = await asyncio.to_thread(function, *args)
    if inspect.isawaitable(result):
        return await result
    return result


class RecoupScheduler:
    """The scheduler process's core: lock, job store, jobs, listeners, heartbeat."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        dispatcher: Ticking,
        *,
        mail: MailPolling | None = None,
        outbox: OutboxDelivery | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.dispatcher = dispatcher
        self.mail = mail
        self.outbox = outbox
        self.owner = owner or f"{socket.gethostname()}:{secrets.token_hex(4)}"
        self.lock_lost = False
        """True once the lock was taken over by another scheduler (scheduling paused)."""
        self._aps: AsyncIOScheduler | None = None
        self._stopping = False
        self._heartbeat = Heartbeat(
            self._renew,
            self.settings.scheduler_lock_ttl_seconds / 3,
            what=f"scheduler {self.owner} lock",
            lost=SchedulerLockedError,
            on_lost=self._lock_lost,
        )

    @property
    def aps(self) -> AsyncIOScheduler:
        """The running APScheduler (for inspection). Raises RuntimeError before start."""
        if self._aps is None:
            raise RuntimeError("the scheduler is not running")
        return self._aps

    @property
    def running(self) -> bool:
        """True between start and shutdown."""
        return self._aps is not None

    # ---- life cycle ---------------------------------------------------------------------------
    async def start(self, *, paused: bool = False) -> None:
        """Take the store's scheduler lock, then start the jobs (first ticks due at once).

        Raises SchedulerLockedError when another live scheduler holds the lock (nothing
        started), StoreUnavailableError when the database is unreachable.
        """
        if self._aps is not None:
            return
        ttl = self.settings.scheduler_lock_ttl_seconds
        await asyncio.to_thread(self.store.scheduler_lock.acquire, self.owner, ttl_seconds=ttl)
        try:
            self._aps = self._build()
            self._aps.start(paused=True)
            self._add_jobs()
            if not paused:
                self._aps.resume()
        except BaseException:
            await self._teardown()
            raise
        self._stopping = False
        self._heartbeat.start()
        logger.info("scheduler {} started", self.owner)

    @property
    def stopping(self) -> bool:
        """True once :meth:`shutdown` has begun."""
        return self._stopping

    async def shutdown(self, *, grace_seconds: float = 30.0) -> None:
        """Stop ticking, let in-flight work finish within `grace_seconds` (then release it),
        and give the lock back. Safe to call twice."""
        if self._aps is None:
            return
        self._stopping = True
        await self._heartbeat.stop()
        with contextlib.suppress(RecoupError):
            await self.dispatcher.drain(grace_seconds)
        await self._teardown()
        logger.info("scheduler {} stopped", self.owner)

    async def _teardown(self) -> None:
        aps, self._aps = self._aps, None
        if aps is not None and aps.running:
            aps.shutdown(wait=False)
        try:
            await asyncio.to_thread(self.store.scheduler_lock.release, self.owner)
        except RecoupError as error:
            logger.warning("scheduler {}: lock not released (it expires on its own): {}", self.owner, error)

    # ---- wiring -------------------------------------------------------------------------------
    def _build(self) -> AsyncIOScheduler:
        aps = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(1, round(self.settings.misfire_grace_minutes * 60)),
            },
            timezone=UTC,
        )
        aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
        aps.add_listener(self._on_error, EVENT_JOB_ERROR)
        return aps

    def _jobs(self) -> dict[str, float]:
        s = self.settings
        jobs = {
            DISPATCH: s.dispatch_interval_seconds,
            STATUS: s.status_poll_interval_seconds,
            DEADLINES: s.deadline_sweep_interval_seconds,
        }
        if self.mail is not None:
            jobs[MAIL] = s.mailbox_poll_interval_seconds
        if self.outbox is not None:
            jobs[OUTBOX] = s.outbox_interval_seconds
        return jobs

    def _add_jobs(self) -> None:
        now = datetime.now(UTC)  # APScheduler's own timing runs on the real clock
        for job_id, seconds in self._jobs().items():
            self.aps.add_job(
                self._scheduled,
                trigger=IntervalTrigger(seconds=seconds, timezone=UTC),
                args=(job_id,),
                id=job_id,
                name=job_id,
                replace_existing=True,
                next_run_time=now,
            )

    def _on_missed(self, event: JobExecutionEvent) -> None:
        late = datetime.now(UTC) - event.scheduled_run_time
        logger.warning(
            "scheduler job {} missed its run at {} (late by {}, grace {} min); the next run is on time",
            event.job_id, event.scheduled_run_time.isoformat(), late, self.settings.misfire_grace_minutes,
        )  # fmt: skip

    def _on_error(self, event: JobExecutionEvent) -> None:
        error = event.exception
        logger.error("scheduler job {} failed: {}: {}", event.job_id, type(error).__name__, error)

    # ---- ticks --------------------------------------------------------------------------------
    async def _scheduled(self, job: str) -> None:
        """What every APScheduler job calls: tick `job`. A tick cancelled because the scheduler
        is shutting down ends quietly; its work is in the store (leases, cursors), so nothing is
        lost. Any other error propagates to APScheduler (logged by the error listener)."""
        try:
            await self.run_job(job)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            logger.debug("scheduler job {} cancelled at shutdown", job)

    async def run_job(self, job: str) -> None:
        """Run one tick now. Errors propagate to APScheduler (logged by the error listener)."""
        if self.lock_lost:
            return
        if job == DISPATCH:
            await self.dispatcher.tick()
        elif job == STATUS:
            await self.dispatcher.check_tick()
        elif job == DEADLINES:
            report = await asyncio.to_thread(sweep, self.store, self.settings, self.clock)
            if report.checks_requested or report.expired:
                logger.info(
                    "deadline sweep: {} checks requested, {} expired",
                    len(report.checks_requested), len(report.expired),
                )  # fmt: skip
        elif job == MAIL and self.mail is not None:
            await self._poll_mail(self.mail)
        elif job == OUTBOX and self.outbox is not None:
            await _call(self.outbox)
        else:
            logger.warning("scheduler: unknown job {}", job)

    async def _poll_mail(self, mail: MailPolling) -> None:
        accounts = await asyncio.to_thread(self.store.accounts.list_accounts)
        for account in accounts:
            if account.mailbox_password_ref is None:
                continue
            try:
                await _call(mail.poll_account, account.name)
            except RecoupError as error:  # one mailbox down never stops the others
                logger.warning("mail poll of {} failed: {}: {}", account.name, type(error).__name__, error)

    # ---- the lock ---------------------------------------------------------------------------
    async def _renew(self) -> None:
        ttl = self.settings.scheduler_lock_ttl_seconds
        await asyncio.to_thread(self.store.scheduler_lock.renew, self.owner, ttl_seconds=ttl)

    async def renew_lock(self) -> bool:
        """Renew the lock once now (the heartbeat's step). Returns False, with all scheduling
        paused, once another scheduler has taken the lock over; True otherwise (a failed renewal
        is logged and retried at the next beat)."""
        return await self._heartbeat.beat()

    async def _lock_lost(self, error: RecoupError) -> None:
        """The heartbeat met a lock taken over by another scheduler: pause every job and stop
        in-flight work at once (the heartbeat ends)."""
        logger.error("scheduler {} lost its lock ({}); pausing all jobs", self.owner, error)
        self.lock_lost = True
        if self._aps is not None:
            self._aps.pause()
        with contextlib.suppress(RecoupError):
            await self.dispatcher.drain(0)


__all__ = ["DEADLINES", "DISPATCH", "MAIL", "OUTBOX", "STATUS", "MailPolling", "OutboxDelivery",
           "RecoupScheduler", "Ticking"]  # fmt: skip
