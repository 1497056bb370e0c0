"""RecoupScheduler over both databases: jobs kept in memory (nothing written to the database),
coalescing, missed and failed runs logged, deadlines firing on the injected clock, the
single-scheduler lock."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.jobstores.memory import MemoryJobStore
from sqlalchemy import inspect, text

from bot.config import Settings
from bot.deadlines import set_initial_deadline
from bot.errors import MailUnavailableError, SchedulerLockedError
from bot.scheduler import DEADLINES, DISPATCH, MAIL, OUTBOX, STATUS, RecoupScheduler
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.scheduling.conftest import cancel_case, submit

WAIT = 10.0


class FakeDispatcher:
    """Counts ticks; can be told to fail."""

    def __init__(self) -> None:
        self.ticks = 0
        self.check_ticks = 0
        self.drained: list[float] = []
        self.fail: Exception | None = None

    async def tick(self) -> None:
        self.ticks += 1
        if self.fail is not None:
            raise self.fail

    async def check_tick(self) -> None:
        self.check_ticks += 1

    async def drain(self, grace_seconds: float) -> None:
        self.drained.append(grace_seconds)


class FakeMail:
    def __init__(self, failing: str | None = None) -> None:
        self.polled: list[str] = []
        self.failing = failing

    def poll_account(self, account_name: str) -> None:
        self.polled.append(account_name)
        if account_name == self.failing:
            raise MailUnavailableError("imap down")


def quiet_settings(tmp_path: Path, **kw: object) -> Settings:
    """Every job hourly unless a test says otherwise, so only the jobs a test drives run."""
    base: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "dispatch_interval_seconds": 3600,
        "status_poll_interval_seconds": 3600,
        "mailbox_poll_interval_seconds": 3600,
        "deadline_sweep_interval_seconds": 3600,
        "outbox_interval_seconds": 3600,
        "misfire_grace_minutes": 10,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


class Events:
    """APScheduler events per (code, job id), with a way to wait for them."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[int, str]] = Counter()
        self.changed = asyncio.Event()

    def __call__(self, event: JobEvent) -> None:
        self.seen[(event.code, event.job_id)] += 1
        self.changed.set()

    async def wait(self, code: int, job_id: str, count: int = 1) -> None:
        async with asyncio.timeout(WAIT):
            while self.seen[(code, job_id)] < count:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def other_store(db_url: str, clock: FrozenClock, store: Store) -> Iterator[Store]:
    """A second connection to the same database (another process's view)."""
    with Store.open(db_url, clock=clock, rng=random.Random(9)) as opened:
        yield opened


@pytest.fixture
async def started(store: Store, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Factory of started, paused schedulers (all shut down at the end) with event capture."""
    made: list[RecoupScheduler] = []

    async def make(
        settings: Settings | None = None, dispatcher: FakeDispatcher | None = None, **kw: object
    ) -> tuple[RecoupScheduler, FakeDispatcher, Events]:
        fake = dispatcher or FakeDispatcher()
        scheduler = RecoupScheduler(store, settings or quiet_settings(tmp_path), clock, fake, **kw)  # type: ignore[arg-type]
        events = Events()
        await scheduler.start(paused=True)
        made.append(scheduler)
        scheduler.aps.add_listener(events, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        return scheduler, fake, events

    yield make
    for scheduler in made:
        await scheduler.shutdown(grace_seconds=0)


def _hold_all_but(scheduler: RecoupScheduler, job_id: str, run_at: datetime) -> None:
    """Push every other job an hour out; set `job_id` to be due at `run_at`."""
    later = datetime.now(UTC) + timedelta(hours=1)
    for job in scheduler.aps.get_jobs():
        scheduler.aps.modify_job(job.id, next_run_time=run_at if job.id == job_id else later)


OLD_JOB_TABLE = "apscheduler_jobs"
"""The table APScheduler's SQLAlchemy job store created in databases of earlier versions."""


async def test_jobs_live_in_memory_as_bound_methods(started: Callable[..., object], store: Store) -> None:
    scheduler, fake, events = await started(mail=FakeMail(), outbox=lambda: None)  # type: ignore[misc]
    jobs = scheduler.aps.get_jobs()
    assert {job.id for job in jobs} == {DISPATCH, STATUS, MAIL, DEADLINES, OUTBOX}
    for job in jobs:
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 600
        assert job.func.__self__ is scheduler  # a bound method of this scheduler, no registry
    assert isinstance(scheduler.aps._jobstores["default"], MemoryJobStore)
    scheduler.aps.resume()
    await events.wait(EVENT_JOB_EXECUTED, DISPATCH)
    assert fake.ticks == 1
    with store.engine.connect() as connection:
        assert not inspect(connection).has_table(OLD_JOB_TABLE)  # nothing written to the database


async def test_an_old_job_table_is_left_alone(store: Store, clock: FrozenClock, tmp_path: Path) -> None:
    """A database an earlier version ran on holds APScheduler's job table: it is neither read
    (its jobs never run) nor written (not even wiped at start)."""
    with store.engine.begin() as connection:
        connection.execute(text(
            f"CREATE TABLE {OLD_JOB_TABLE} (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT,"
            " job_state BYTEA)" if store.engine.dialect.name == "postgresql" else
            f"CREATE TABLE {OLD_JOB_TABLE} (id VARCHAR(191) PRIMARY KEY, next_run_time FLOAT,"
            " job_state BLOB)"
        ))  # fmt: skip
        connection.execute(text(f"INSERT INTO {OLD_JOB_TABLE} VALUES ('recoup.dispatch', 0, NULL)"))
    scheduler = RecoupScheduler(store, quiet_settings(tmp_path), clock, FakeDispatcher())
    await scheduler.start(paused=True)
    try:
        assert {job.id for job in scheduler.aps.get_jobs()} == {DISPATCH, STATUS, DEADLINES}
    finally:
        await scheduler.shutdown(grace_seconds=0)
    with store.engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id, next_run_time FROM {OLD_JOB_TABLE}")).all()
    assert [tuple(row) for row in rows] == [("recoup.dispatch", 0)]


@pytest.mark.parametrize("coalesce", [True, False])
async def test_late_runs_coalesce_into_one(
    started: Callable[..., object], tmp_path: Path, coalesce: bool
) -> None:
    settings = quiet_settings(tmp_path, dispatch_interval_seconds=60, misfire_grace_minutes=10)
    scheduler, fake, events = await started(settings)  # type: ignore[misc]
    # as if the process had been frozen for five intervals: six run times are now due
    _hold_all_but(scheduler, DISPATCH, datetime.now(UTC) - timedelta(minutes=5, seconds=-2))
    scheduler.aps.modify_job(DISPATCH, coalesce=coalesce)
    scheduler.aps.resume()
    expected = 1 if coalesce else 6  # the control run shows the test can tell them apart
    await events.wait(EVENT_JOB_EXECUTED, DISPATCH, expected)
    assert fake.ticks == expected
    job = scheduler.aps.get_job(DISPATCH)
    assert job is not None and job.next_run_time > datetime.now(UTC)
    assert events.seen[(EVENT_JOB_MISSED, DISPATCH)] == 0


async def test_run_later_than_the_grace_is_reported_missed(
    started: Callable[..., object], tmp_path: Path, logs: list[str]
) -> None:
    settings = quiet_settings(tmp_path, misfire_grace_minutes=1)
    scheduler, fake, events = await started(settings)  # type: ignore[misc]
    # hourly job, last due 30 minutes ago: beyond a one-minute grace even after coalescing
    _hold_all_but(scheduler, DISPATCH, datetime.now(UTC) - timedelta(minutes=90))
    scheduler.aps.resume()
    await events.wait(EVENT_JOB_MISSED, DISPATCH)
    assert fake.ticks == 0
    assert any("recoup.dispatch missed its run" in line for line in logs)
    job = scheduler.aps.get_job(DISPATCH)
    assert job is not None and job.next_run_time > datetime.now(UTC)


async def test_failed_tick_is_logged_and_scheduling_goes_on(
    started: Callable[..., object], tmp_path: Path, logs: list[str]
) -> None:
    fake = FakeDispatcher()
    fake.fail = RuntimeError("boom")
    scheduler, _, events = await started(dispatcher=fake)  # type: ignore[misc]
    scheduler.aps.resume()  # every job is due at start
    await events.wait(EVENT_JOB_ERROR, DISPATCH)
    await events.wait(EVENT_JOB_EXECUTED, STATUS)
    assert fake.ticks == 1 and fake.check_ticks == 1
    assert any("scheduler job recoup.dispatch failed: RuntimeError: boom" in line for line in logs)
    assert scheduler.aps.get_job(DISPATCH) is not None
    fake.fail = None
    scheduler.aps.modify_job(DISPATCH, next_run_time=datetime.now(UTC))
    await events.wait(EVENT_JOB_EXECUTED, DISPATCH)
    assert fake.ticks == 2


async def test_mail_and_outbox_ticks(started: Callable[..., object], store: Store) -> None:
    mail = FakeMail(failing="alice")
    delivered: list[int] = []
    scheduler, _, events = await started(mail=mail, outbox=lambda: delivered.append(1))  # type: ignore[misc]
    scheduler.aps.resume()
    await events.wait(EVENT_JOB_EXECUTED, MAIL)
    await events.wait(EVENT_JOB_EXECUTED, OUTBOX)
    assert sorted(mail.polled) == ["alice", "bob", "carol"]  # alice's failure did not stop the rest
    assert delivered == [1]


async def test_deadline_fires_when_the_injected_clock_passes_48_hours(
    started: Callable[..., object], store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = quiet_settings(tmp_path)
    case = submit(store, cancel_case(store, settings))
    set_initial_deadline(store, settings, case)
    scheduler, _, events = await started(settings)  # type: ignore[misc]
    _hold_all_but(scheduler, DEADLINES, datetime.now(UTC))
    scheduler.aps.resume()
    await events.wait(EVENT_JOB_EXECUTED, DEADLINES)
    assert store.tracking.tracking(case.id).deadline_kind == "cancel_window"  # not yet

    clock.advance(hours=48, seconds=1)
    scheduler.aps.modify_job(DEADLINES, next_run_time=datetime.now(UTC))
    await events.wait(EVENT_JOB_EXECUTED, DEADLINES, 2)
    after = store.tracking.tracking(case.id)
    assert after.check_due_at == clock.now
    assert after.deadline_kind == "protection_expiry"
    assert store.cases.history(case.id)[-1].kind == "deadline_reached"


async def test_second_scheduler_on_the_same_store_refuses(
    started: Callable[..., object], other_store: Store, store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    first, _, _ = await started()  # type: ignore[misc]
    second = RecoupScheduler(other_store, quiet_settings(tmp_path), clock, FakeDispatcher())
    with pytest.raises(SchedulerLockedError, match="holds the scheduler lock"):
        await second.start()
    assert not second.running and first.running
    holder = store.scheduler_lock.holder()
    assert holder is not None and holder.owner == first.owner
    clock.advance(seconds=100)  # still inside the 120 s lifetime: still refused
    with pytest.raises(SchedulerLockedError):
        await second.start()
    await first.shutdown(grace_seconds=0)
    assert store.scheduler_lock.holder() is None
    await second.start()
    try:
        assert second.running
    finally:
        await second.shutdown(grace_seconds=0)


async def test_stale_lock_of_a_dead_process_is_taken_over(
    started: Callable[..., object], store: Store, clock: FrozenClock
) -> None:
    store.scheduler_lock.acquire("dead-host:0001", ttl_seconds=120)
    clock.advance(seconds=121)
    scheduler, _, _ = await started()  # type: ignore[misc]
    holder = store.scheduler_lock.holder()
    assert holder is not None and holder.owner == scheduler.owner
    assert holder.expires_at == clock.now + timedelta(seconds=120)


async def test_scheduler_that_lost_its_lock_pauses(
    started: Callable[..., object], other_store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    first, fake, _ = await started()  # type: ignore[misc]
    assert await first.renew_lock()
    clock.advance(seconds=121)  # first's heartbeat stalled past the lifetime
    second = RecoupScheduler(other_store, quiet_settings(tmp_path), clock, FakeDispatcher())
    await second.start(paused=True)
    try:
        assert not await first.renew_lock()
        assert first.lock_lost
        assert fake.drained == [0]
        await first.run_job(DISPATCH)
        assert fake.ticks == 0  # a scheduler without the lock ticks nothing
    finally:
        await second.shutdown(grace_seconds=0)


async def test_a_tick_cancelled_at_shutdown_ends_quietly(
    started: Callable[..., object], logs: list[str]
) -> None:
    """A tick still running when the service stops is cancelled (by APScheduler's shutdown, or
    with the event loop); its work is in the store, so the job wrapper ends it quietly instead of
    reporting a failed job."""
    entered = asyncio.Event()

    class StuckDispatcher(FakeDispatcher):
        async def tick(self) -> None:
            entered.set()
            await asyncio.Event().wait()

    scheduler, _, events = await started(dispatcher=StuckDispatcher())  # type: ignore[misc]
    _hold_all_but(scheduler, DISPATCH, datetime.now(UTC))
    scheduler.aps.resume()
    async with asyncio.timeout(WAIT):
        await entered.wait()
    ticking = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "run_coroutine_job"]
    assert len(ticking) == 1
    await scheduler.shutdown(grace_seconds=0)  # APScheduler cancels the running tick
    await events.wait(EVENT_JOB_EXECUTED, DISPATCH)
    assert ticking[0].cancelled() is False  # the wrapper ended it as a normal return
    assert events.seen[(EVENT_JOB_ERROR, DISPATCH)] == 0
    assert not any("failed" in line or "raised" in line for line in logs), logs
