"""APScheduler wiring: jobs that only tick. All durable work state (cases, leases, attempts,
check times, deadlines, outbox) lives in the store, so a crash or restart loses nothing and
repeats nothing; the job store only remembers when each tick is next due.

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

The job store is APScheduler's SQLAlchemyJobStore in the SAME database as the store (table
`apscheduler_jobs`, created by APScheduler). A late tick runs once (coalesced); one later than
the grace is reported missed (logged); a failed tick is logged; neither stops the scheduler.

Only one scheduler may run per store: :meth:`RecoupScheduler.start` takes the `scheduler_lock`
row (owner + expiry from the injected clock) or raises SchedulerLockedError; a heartbeat renews
it every third of `scheduler_lock_ttl_seconds`; a lock whose holder died is taken over once it
has expired. If the lock is lost while running, scheduling pauses and in-flight work drains.

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
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from bot.config import Settings
from bot.deadlines import sweep
from bot.errors import RecoupError, SchedulerLockedError
from bot.store import Store

Clock = Callable[[], datetime]

JOB_TABLE = "apscheduler_jobs"
"""APScheduler's job table in the store's database."""

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

_LIVE: dict[str, RecoupScheduler] = {}
"""Running schedulers by owner id: persisted jobs name their scheduler by this key, since a job
store can only hold importable functions and plain arguments, not live objects."""


async def run_tick(owner: str, job: str) -> None:
    """The one function every persisted job calls: run tick `job` of scheduler `owner`.
    A job left behind by a dead scheduler finds no owner and does nothing."""
    scheduler = _LIVE.get(owner)
    if scheduler is None:
        logger.warning("scheduler job {} belongs to a scheduler that is gone; skipped", job)
        return
    try:
        await scheduler.run_job(job)
    except asyncio.CancelledError:
        if not scheduler.stopping:
            raise
        # A tick still running when the service stopped is cancelled with the event loop; its
        # work is in the store (leases, cursors), so nothing is lost: end it quietly.
        logger.debug("scheduler job {} cancelled at shutdown", job)


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
        self._stop = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None

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
            _LIVE[self.owner] = self
            self._aps.start(paused=True)
            self._aps.remove_all_jobs()  # jobs of an earlier process: replaced by ours below
            self._add_jobs()
            if not paused:
                self._aps.resume()
        except BaseException:
            await self._teardown()
            raise
        self._stop.clear()
        self._heartbeat = asyncio.create_task(self._beat(), name=f"scheduler lock {self.owner}")
        logger.info("scheduler {} started", self.owner)

    @property
    def stopping(self) -> bool:
        """True once :meth:`shutdown` has begun."""
        return self._stop.is_set()

    async def shutdown(self, *, grace_seconds: float = 30.0) -> None:
        """Stop ticking, let in-flight work finish within `grace_seconds` (then release it),
        and give the lock back. Safe to call twice."""
        if self._aps is None:
            return
        self._stop.set()
        if self._heartbeat is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        with contextlib.suppress(RecoupError):
            await self.dispatcher.drain(grace_seconds)
        await self._teardown()
        logger.info("scheduler {} stopped", self.owner)

    async def _teardown(self) -> None:
        aps, self._aps = self._aps, None
        _LIVE.pop(self.owner, None)
        if aps is not None and aps.running:
            aps.shutdown(wait=False)
        try:
            await asyncio.to_thread(self.store.scheduler_lock.release, self.owner)
        except RecoupError as error:
            logger.warning("scheduler {}: lock not released (it expires on its own): {}", self.owner, error)

    # ---- wiring -------------------------------------------------------------------------------
    def _build(self) -> AsyncIOScheduler:
        aps = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine, tablename=JOB_TABLE)},
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
                run_tick,
                trigger=IntervalTrigger(seconds=seconds, timezone=UTC),
                args=(self.owner, job_id),
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

    async def _beat(self) -> None:
        """Renew the lock every third of its TTL until stopped; on loss pause and drain."""
        ttl = self.settings.scheduler_lock_ttl_seconds
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=ttl / 3)
            if self._stop.is_set():
                return
            await self.renew_lock()

    async def renew_lock(self) -> bool:
        """Renew the lock once (the heartbeat's step). Returns False and pauses all scheduling
        when another scheduler took the lock over."""
        ttl = self.settings.scheduler_lock_ttl_seconds
        try:
            await asyncio.to_thread(self.store.scheduler_lock.renew, self.owner, ttl_seconds=ttl)
        except SchedulerLockedError as error:
            logger.error("scheduler {} lost its lock ({}); pausing all jobs", self.owner, error)
            self.lock_lost = True
            if self._aps is not None:
                self._aps.pause()
            with contextlib.suppress(RecoupError):
                await self.dispatcher.drain(0)
            return False
        except RecoupError as error:
            logger.warning("scheduler {}: lock renewal failed, retrying: {}", self.owner, error)
        return True


__all__ = ["DEADLINES", "DISPATCH", "MAIL", "OUTBOX", "STATUS", "MailPolling", "OutboxDelivery",
           "RecoupScheduler", "Ticking", "run_tick"]  # fmt: skip
