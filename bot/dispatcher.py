"""The dispatcher: runs leased cases and status checks as asyncio tasks, within limits.

Promises:

* at most `settings.max_concurrency` portal sessions at once (case runs and status checks);
* never two sessions of one account at once: the store never leases two cases of one account,
  and this dispatcher keeps a status check and a case run of one account apart too;
* account pacing: nothing starts on an account before its `next_action_at`; after every session
  that time is set to now + `pacing_seconds` plus up to 50 % jitter (injected RNG);
* a running case's lease is renewed by a heartbeat (:mod:`bot.heartbeat`) every third of
  `lease_seconds`; if it is lost the run is cancelled at once (someone else may hold the case
  now) — unless the run itself has moved the case out of the leased states; a failed renewal
  (store briefly away) is logged and retried at the next beat;
* at the end of a run the lease is released (a case still `running` goes back to `queued`;
  `submitting` stays for reconciliation). A runner exception never escapes: it is logged (type
  and message only — no tracebacks with local values, so no secrets) and recorded as an attempt
  that moves the case as the one failure policy decides (:func:`bot.states.after_failure`:
  retry with backoff, fail when the budget is spent, needs_human for a bug or a configuration
  problem such as a missing secret);
* work is claimed as soon as it can run: besides the scheduler's periodic tick, a session's
  end (a slot and an account free) and :meth:`Dispatcher.wake` (work queued in this process)
  run a tick at once; ticks never overlap, so the limits above hold whoever ticks;
* :meth:`Dispatcher.drain` stops claiming and lets in-flight runs finish within a timeout; the
  rest are cancelled and their leases released.

Store calls run in worker threads (`asyncio.to_thread`) so the event loop keeps ticking.
The runner and checker are injected (Protocols below); the engine is never imported here.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, Protocol

from loguru import logger

from bot.config import Settings
from bot.errors import LeaseLostError, RecoupError, RunnerCrashedError
from bot.heartbeat import heartbeat
from bot.models import Case
from bot.policies import next_check_at, pacing_delay
from bot.states import LEASED_STATES, STATUS_CHECK_STATES
from bot.store import RandomSource, Store
from bot.store._tracking import CaseTracking
from bot.timing import Stopwatch

Clock = Callable[[], datetime]


class CaseRunner(Protocol):
    """Runs one leased case to its next state (the engine's `run_case`)."""

    async def run_case(self, case: Case, worker: str) -> object:
        """Work on `case`, which `worker` holds under a lease."""
        ...


class StatusChecker(Protocol):
    """Reads the portal status of one account's open cases in one session."""

    async def check_account(self, account_name: str, cases: list[Case]) -> object:
        """Check `cases` (all of `account_name`) and move them by what the portal shows."""
        ...


class Dispatcher:
    """Claims due work and runs it within the limits above. One instance per worker process."""

    def __init__(
        self,
        store: Store,
        runner: CaseRunner,
        settings: Settings,
        clock: Clock,
        worker_id: str,
        *,
        checker: StatusChecker | None = None,
        rng: RandomSource | None = None,
        heartbeat_seconds: float | None = None,
        wake_on_end: bool = True,
    ) -> None:
        self.store = store
        self.runner = runner
        self.checker = checker
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id
        self._rng: RandomSource = rng or random.Random()
        self._heartbeat = heartbeat_seconds or settings.lease_seconds / 3
        self._tasks: dict[asyncio.Task[None], tuple[int, str]] = {}
        """In-flight sessions: task → (account id, what it does)."""
        self._closing = False
        self._tick_lock = asyncio.Lock()
        """One dispatch tick at a time (the periodic one and a wake-up's never overlap)."""
        self._wake_on_end = wake_on_end
        """Tick as soon as a session ends (off: only the periodic tick claims; tests that
        drive every tick by hand)."""
        self._wanted = False
        self._kicker: asyncio.Task[None] | None = None
        self.wakeups = 0
        """Ticks run because of :meth:`wake` (a slot freed, work queued), not the period."""

    # ---- state --------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        """Sessions running now."""
        return len(self._tasks)

    @property
    def busy_accounts(self) -> set[int]:
        """Ids of accounts with a session running in this dispatcher."""
        return {account_id for account_id, _ in self._tasks.values()}

    def _free_slots(self) -> int:
        return 0 if self._closing else self.settings.max_concurrency - len(self._tasks)

    # ---- ticks --------------------------------------------------------------------------------
    def wake(self) -> None:
        """Run a dispatch tick now, without waiting for the scheduler's period: called when a
        session ends (a slot and an account are free) and by whoever queues work in this
        process. Wake-ups while a tick runs fold into one more tick after it. A failed
        wake-up tick is logged; the periodic tick stays the fallback. No-op while draining."""
        if self._closing:
            return
        self._wanted = True
        if self._kicker is None or self._kicker.done():
            self._kicker = asyncio.get_running_loop().create_task(
                self._kick(), name=f"{self.worker_id}: dispatch wake-up"
            )

    async def _kick(self) -> None:
        while self._wanted and not self._closing:
            self._wanted = False
            self.wakeups += 1
            try:
                await self.tick()
            except RecoupError as error:
                logger.warning("dispatch wake-up failed (the periodic tick retries): {}", error)

    async def tick(self) -> list[int]:
        """Reclaim expired leases, then claim due queued cases (and stranded `submitting` ones,
        for reconciliation) up to the limits and start them. Returns the ids started.
        Raises StoreUnavailableError when the store cannot be reached (nothing started).
        Ticks never overlap: a second one waits for the first."""
        async with self._tick_lock:
            return await self._tick()

    async def _tick(self) -> list[int]:
        if self._closing:
            return []
        reclaimed = await asyncio.to_thread(self.store.cases.reclaim_expired)
        for lost in reclaimed:
            logger.warning("case {}: lease of a dead worker expired; reclaimed", lost.id)
        started: list[int] = []
        for stranded in await self._stranded_submitting():
            started.append(stranded.id)
            self._spawn(stranded.account_id, f"case {stranded.id}", self._run_case(stranded))
        while self._free_slots() > 0:
            case = await asyncio.to_thread(self._claim_one, self.busy_accounts)
            if case is None:
                break
            started.append(case.id)
            self._spawn(case.account_id, f"case {case.id}", self._run_case(case))
        return started

    def _claim_one(self, busy: set[int]) -> Case | None:
        return self.store.dispatch.claim_next_ready(
            self.worker_id, lease_seconds=self.settings.lease_seconds, skip_accounts=busy
        )

    async def _stranded_submitting(self) -> list[Case]:
        """Claim `submitting` cases nobody holds (a crash after the submit intent)."""
        claimed: list[Case] = []
        if self._free_slots() <= 0:
            return claimed
        now = self.clock()
        for case in await asyncio.to_thread(self.store.cases.find_submitting):
            if self._free_slots() - len(claimed) <= 0:
                break
            if case.account_id in self.busy_accounts | {c.account_id for c in claimed}:
                continue
            pace = await asyncio.to_thread(self.store.tracking.account_pace, case.account)
            if pace.next_action_at is not None and pace.next_action_at > now:
                continue
            got = await asyncio.to_thread(
                self.store.cases.claim, case.id, self.worker_id, lease_seconds=self.settings.lease_seconds
            )
            if got is not None:
                logger.info("case {}: reconciling a submit left by an earlier run", got.id)
                claimed.append(got)
        return claimed

    async def check_tick(self) -> list[str]:
        """Start one status check per account whose open cases are due (see
        :mod:`bot.policies`), skipping busy or paced accounts and accounts with a leased case.
        Returns the accounts started. No-op without a checker."""
        if self.checker is None or self._closing:
            return []
        due = await asyncio.to_thread(self.store.tracking.due_checks, STATUS_CHECK_STATES)
        by_account: dict[str, list[CaseTracking]] = {}
        for tracking in due:
            by_account.setdefault(tracking.account, []).append(tracking)
        if not by_account:
            return []
        leased = {c.account_id for c in await asyncio.to_thread(self.store.cases.leased)}
        now = self.clock()
        started: list[str] = []
        for account, trackings in by_account.items():
            if self._free_slots() <= 0:
                break
            account_id = trackings[0].account_id
            if account_id in self.busy_accounts or account_id in leased:
                continue
            pace = await asyncio.to_thread(self.store.tracking.account_pace, account)
            if pace.next_action_at is not None and pace.next_action_at > now:
                continue
            started.append(account)
            self._spawn(account_id, f"status check of {account}", self._run_check(account, trackings))
        return started

    # ---- stopping -----------------------------------------------------------------------------
    async def join(self, wait_seconds: float) -> bool:
        """Wait up to `wait_seconds` for every in-flight session to end; True if all did."""
        tasks = list(self._tasks)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=wait_seconds)
        return not pending

    async def drain(self, grace_seconds: float) -> int:
        """Stop claiming; give in-flight sessions `grace_seconds` to finish, then cancel the
        rest (their leases are released on the way out). Returns how many were cancelled."""
        self._closing = True
        if self._kicker is not None:
            await asyncio.wait({self._kicker})  # its claim in progress ends; nothing new starts
        async with self._tick_lock:
            pass  # a periodic tick under way has spawned what it claimed
        if await self.join(grace_seconds):
            return 0
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        logger.warning("dispatcher {}: {} session(s) cancelled at shutdown", self.worker_id, len(pending))
        return len(pending)

    # ---- one session --------------------------------------------------------------------------
    def _spawn(self, account_id: int, what: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"{self.worker_id}: {what}")
        self._tasks[task] = (account_id, what)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            logger.error("dispatcher task {} ended with {}: {}", task.get_name(), type(error).__name__, error)
        if self._wake_on_end:
            self.wake()  # a slot and an account are free: claim the next case now

    async def _run_case(self, case: Case) -> None:
        started = self.clock()
        watch = Stopwatch(f"dispatch of case {case.id}")
        run = asyncio.current_task()
        assert run is not None

        async def renew() -> None:
            await asyncio.to_thread(
                self.store.cases.renew_lease,
                case.id,
                self.worker_id,
                lease_seconds=self.settings.lease_seconds,
            )

        async def lost(error: RecoupError) -> None:
            if await self._moved_on_by_its_run(case.id):
                return  # the run finished the case; its last bookkeeping needs no lease
            logger.warning("case {}: lease lost; stopping its run", case.id)
            run.cancel()

        try:
            async with heartbeat(
                renew, self._heartbeat, what=f"case {case.id} lease", lost=LeaseLostError, on_lost=lost
            ):
                await self.runner.run_case(case, self.worker_id)
        except Exception as error:  # never let a runner kill the dispatcher
            logger.error("case {}: runner failed: {}: {}", case.id, type(error).__name__, error)
            await self._settle(case, started, error)
        finally:
            watch.lap("run")
            await self._after_session(case.account)
            await self._release(case.id)
            watch.lap("release")
            watch.log()

    async def _moved_on_by_its_run(self, case_id: int) -> bool:
        """Has our own run moved the case out of the leased states (`running`, `submitting`)?
        Such a case holds no lease any more, and that is no reason to stop the run."""
        try:
            case = await asyncio.to_thread(self.store.cases.get, case_id)
        except RecoupError:
            return False
        return case.state not in LEASED_STATES

    async def _settle(self, case: Case, started: datetime, error: Exception) -> None:
        """Record a runner failure the runner did not record itself, only while we hold the
        lease; the store moves the case as the one failure policy decides
        (:func:`bot.states.after_failure`) in the same transaction."""
        failure = (
            error
            if isinstance(error, RecoupError)
            else RunnerCrashedError(f"runner crashed: {type(error).__name__}: {error}")
        )
        try:
            await asyncio.to_thread(
                self.store.cases.record_failure,
                case.id,
                worker=self.worker_id,
                started_at=started,
                error=failure,
                owner=self.worker_id,
            )
        except LeaseLostError:
            return  # not ours any more (or the run itself lost it): nothing to record
        except RecoupError as problem:
            logger.error("case {}: could not record the failed run: {}", case.id, problem)

    async def _release(self, case_id: int) -> None:
        try:
            current = await asyncio.to_thread(self.store.cases.get, case_id)
            if current.lease_owner == self.worker_id:
                await asyncio.to_thread(self.store.cases.release_lease, case_id, self.worker_id)
        except RecoupError as error:  # lost or store away: the lease expires on its own
            logger.warning("case {}: lease not released: {}", case_id, error)

    async def _after_session(self, account: str) -> None:
        """Pace the account: no new session before now + pacing (+ jitter)."""
        if self.settings.pacing_seconds <= 0:
            return
        at = self.clock() + pacing_delay(self.settings, self._rng)
        try:
            await asyncio.to_thread(self.store.tracking.set_next_action, account, at)
        except RecoupError as error:
            logger.warning("account {}: pacing not recorded: {}", account, error)

    async def _run_check(self, account: str, trackings: list[CaseTracking]) -> None:
        assert self.checker is not None
        started = self.clock()
        watch = Stopwatch(f"status check of {account} ({len(trackings)} cases)")
        try:
            cases = await asyncio.to_thread(self.store.cases.get_many, [t.case_id for t in trackings])
            await self.checker.check_account(account, cases)
        except Exception as error:
            logger.error("status check of {} failed: {}: {}", account, type(error).__name__, error)
        finally:
            watch.lap("check")
            watch.log()
            now = self.clock()
            next_checks = {t.case_id: next_check_at(self.settings, t, now) for t in trackings}
            try:
                await asyncio.to_thread(
                    self.store.tracking.schedule_checks, next_checks, checked_from=started
                )
            except RecoupError as error:
                logger.warning("status check of {}: next check times not saved: {}", account, error)
            await self._after_session(account)
