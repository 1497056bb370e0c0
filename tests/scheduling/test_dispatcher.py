"""Dispatcher on a real store with fake runners: limits, per-account exclusivity, pacing,
runner failures, heartbeat, drain."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.errors import PortalUnavailableError, SecretMissingError
from bot.models import Case
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.scheduling.conftest import cancel_case, submit, wait_until

WAIT = 10.0


class GatedRunner:
    """Records overlap; each run waits until the test opens its gate, then submits the case."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.gates: dict[int, asyncio.Event] = {}
        self.active: Counter[str] = Counter()
        self.peak_total = 0
        self.peak_per_account = 0
        self.runs: Counter[int] = Counter()
        self.started = asyncio.Event()

    async def run_case(self, case: Case, worker: str) -> None:
        self.runs[case.id] += 1
        self.active[case.account] += 1
        self.peak_total = max(self.peak_total, sum(self.active.values()))
        self.peak_per_account = max(self.peak_per_account, max(self.active.values()))
        self.started.set()
        try:
            await self.gates.setdefault(case.id, asyncio.Event()).wait()
            await asyncio.to_thread(self.store.cases.mark_submit_intent, case.id, worker)
            await asyncio.to_thread(
                self.store.cases.transition,
                case.id,
                CaseState.SUBMITTED,
                expected_from=CaseState.SUBMITTING,
                owner=worker,
            )
        finally:
            self.active[case.account] -= 1

    def running_ids(self) -> list[int]:
        return [cid for cid, gate in self.gates.items() if not gate.is_set()]


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", dispute_share_cap=1.0, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_concurrency", [2, 5])
async def test_limits_and_one_session_per_account(
    store: Store, clock: FrozenClock, tmp_path: Path, max_concurrency: int
) -> None:
    settings = _settings(tmp_path, max_concurrency=max_concurrency)
    created = [
        cancel_case(store, settings, account) for _ in range(4) for account in ("alice", "bob", "carol")
    ]
    runner = GatedRunner(store)
    dispatcher = Dispatcher(store, runner, settings, clock, "w1", rng=random.Random(1), wake_on_end=False)
    order = random.Random(5)
    while sum(runner.runs.values()) < len(created) or dispatcher.in_flight:
        await dispatcher.tick()
        await dispatcher.tick()  # a second tick while runs are open must add nothing over the limits
        assert dispatcher.in_flight <= max_concurrency
        blocked = [cid for cid in runner.gates if not runner.gates[cid].is_set()]
        await wait_until(lambda: len(runner.running_ids()) == dispatcher.in_flight)
        if blocked:
            runner.gates[order.choice(blocked)].set()
            await wait_until(lambda n=len(blocked): dispatcher.in_flight < n)  # type: ignore[misc]
    assert runner.peak_per_account == 1
    assert runner.peak_total == min(max_concurrency, 3)
    assert set(runner.runs) == {c.id for c in created} and set(runner.runs.values()) == {1}
    assert {c.state for c in store.cases.list_cases()} == {CaseState.SUBMITTED}
    assert store.cases.leased() == []


class InstantRunner:
    """Submits at once; can be told to raise for given cases."""

    def __init__(self, store: Store, fail: dict[int, Exception] | None = None) -> None:
        self.store = store
        self.fail = fail or {}
        self.ran: list[int] = []

    async def run_case(self, case: Case, worker: str) -> None:
        self.ran.append(case.id)
        if case.id in self.fail:
            raise self.fail[case.id]
        await asyncio.to_thread(self.store.cases.mark_submit_intent, case.id, worker)
        await asyncio.to_thread(
            self.store.cases.transition,
            case.id,
            CaseState.SUBMITTED,
            expected_from=CaseState.SUBMITTING,
            owner=worker,
        )


class HalfRandom:
    def random(self) -> float:
        return 0.5


async def test_pacing_between_sessions_of_one_account(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, pacing_seconds=60, max_concurrency=3)
    first, second = cancel_case(store, settings), cancel_case(store, settings)
    runner = InstantRunner(store)
    dispatcher = Dispatcher(store, runner, settings, clock, "w1", rng=HalfRandom(), wake_on_end=False)
    assert await dispatcher.tick() == [first.id]
    assert await dispatcher.join(WAIT)
    pace = store.tracking.account_pace("alice")
    assert pace.next_action_at is not None
    # 60 s plus the jitter: half (the RNG's 0.5) of the 50 % maximum
    assert (pace.next_action_at - clock.now).total_seconds() == pytest.approx(75.0)
    assert await dispatcher.tick() == []
    clock.advance(seconds=74)
    assert await dispatcher.tick() == []
    clock.advance(seconds=2)
    assert await dispatcher.tick() == [second.id]
    assert await dispatcher.join(WAIT)
    assert runner.ran == [first.id, second.id]


async def test_runner_exceptions_never_stop_the_dispatcher(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, max_concurrency=3)
    bug = cancel_case(store, settings, "alice")
    flaky = cancel_case(store, settings, "bob")
    fine = cancel_case(store, settings, "carol")
    runner = InstantRunner(
        store, fail={bug.id: RuntimeError("boom"), flaky.id: PortalUnavailableError("503")}
    )
    dispatcher = Dispatcher(store, runner, settings, clock, "w1", wake_on_end=False)
    assert sorted(await dispatcher.tick()) == sorted([bug.id, flaky.id, fine.id])
    assert await dispatcher.join(WAIT)
    assert store.cases.get(fine.id).state is CaseState.SUBMITTED
    crashed = store.cases.get(bug.id)
    assert crashed.state is CaseState.NEEDS_HUMAN and crashed.lease_owner is None
    assert "RunnerCrashedError" in (crashed.last_error or "")
    retried = store.cases.get(flaky.id)
    assert retried.state is CaseState.QUEUED and retried.attempts == 1
    assert retried.next_attempt_at is not None and retried.next_attempt_at > clock.now
    assert await dispatcher.tick() == []  # the retry waits for its backoff
    clock.now = retried.next_attempt_at
    runner.fail.clear()
    assert await dispatcher.tick() == [flaky.id]
    assert await dispatcher.join(WAIT)
    assert store.cases.get(flaky.id).state is CaseState.SUBMITTED


async def test_a_missing_secret_parks_the_case_for_the_operator_and_spends_no_budget(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    """A runner failing for a missing secret (configuration) parks that account's case in
    needs_human, never failed, without spending the attempt budget; other accounts go on."""
    settings = _settings(tmp_path, max_concurrency=3)
    locked_out = cancel_case(store, settings, "alice")
    fine = cancel_case(store, settings, "bob")
    missing = SecretMissingError("secret env:RECOUP_PW_ALICE is not set in the environment")
    runner = InstantRunner(store, fail={locked_out.id: missing})
    dispatcher = Dispatcher(store, runner, settings, clock, "w1", wake_on_end=False)
    assert sorted(await dispatcher.tick()) == sorted([locked_out.id, fine.id])
    assert await dispatcher.join(WAIT)
    assert store.cases.get(fine.id).state is CaseState.SUBMITTED
    parked = store.cases.get(locked_out.id)
    assert parked.state is CaseState.NEEDS_HUMAN and parked.lease_owner is None
    assert parked.attempts == 0 and parked.next_attempt_at is None
    assert "env:RECOUP_PW_ALICE is not set" in (parked.last_error or "")
    store.cases.transition(locked_out.id, CaseState.QUEUED, expected_from=CaseState.NEEDS_HUMAN)
    runner.fail.clear()  # the operator set the secret and retried the case
    assert await dispatcher.tick() == [locked_out.id]
    assert await dispatcher.join(WAIT)
    assert store.cases.get(locked_out.id).state is CaseState.SUBMITTED


class StuckRunner:
    """Never finishes on its own."""

    def __init__(self) -> None:
        self.started: list[int] = []

    async def run_case(self, case: Case, worker: str) -> None:
        self.started.append(case.id)
        await asyncio.Event().wait()


async def test_drain_releases_leases_of_unfinished_runs(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, max_concurrency=2)
    cases = [cancel_case(store, settings, a) for a in ("alice", "bob", "carol")]
    runner = StuckRunner()
    dispatcher = Dispatcher(store, runner, settings, clock, "w1", wake_on_end=False)
    assert len(await dispatcher.tick()) == 2
    await wait_until(lambda: len(runner.started) == 2)
    assert len(store.cases.leased()) == 2
    assert await dispatcher.drain(0.05) == 2
    assert dispatcher.in_flight == 0
    assert store.cases.leased() == []
    assert {c.state for c in store.cases.list_cases()} == {CaseState.QUEUED}
    for case_id in runner.started:
        assert store.cases.history(case_id)[-1].kind == "released"
    assert await dispatcher.tick() == []  # a draining dispatcher claims nothing
    assert len(cases) == 3


async def test_heartbeat_renews_lease_and_lost_lease_cancels_run(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, lease_seconds=60)
    case = cancel_case(store, settings)
    runner = StuckRunner()
    dispatcher = Dispatcher(
        store, runner, settings, clock, "w1", heartbeat_seconds=0.01, wake_on_end=False
    )
    await dispatcher.tick()
    first_expiry = store.cases.get(case.id).lease_expires_at
    assert first_expiry is not None
    clock.advance(seconds=30)
    await wait_until(lambda: store.cases.get(case.id).lease_expires_at != first_expiry)
    renewed = store.cases.get(case.id).lease_expires_at
    assert renewed is not None and (renewed - clock.now).total_seconds() == pytest.approx(60)
    # another worker takes the case over behind our back: the run must stop at once
    clock.advance(seconds=120)
    store.cases.reclaim_expired()
    assert store.cases.claim(case.id, "w2", lease_seconds=600) is not None
    assert await dispatcher.join(WAIT)
    assert store.cases.get(case.id).lease_owner == "w2"  # our exit did not touch w2's lease


async def test_a_run_that_finished_its_case_is_not_cancelled_by_the_heartbeat(
    store: Store, clock: FrozenClock, tmp_path: Path, logs: list[str]
) -> None:
    """After the run moved its case to `submitted` (which holds no lease) it still writes the
    evidence and the report: the heartbeat must neither cancel it nor cry "lease lost"."""
    settings = _settings(tmp_path, lease_seconds=60)
    case = cancel_case(store, settings)
    bookkeeping_done: list[bool] = []

    class SubmitThenBookkeep:
        async def run_case(self, c: Case, worker: str) -> None:
            await asyncio.to_thread(store.cases.mark_submit_intent, c.id, worker)
            await asyncio.to_thread(store.cases.transition, c.id, CaseState.SUBMITTED,
                                    expected_from=CaseState.SUBMITTING, owner=worker)
            beats = [t for t in asyncio.all_tasks() if t.get_name() == f"heartbeat: case {c.id} lease"]
            assert len(beats) == 1
            await asyncio.wait(beats)  # the heartbeat meets the lease-free case, and ends
            bookkeeping_done.append(True)  # a cancelled run never gets here

    dispatcher = Dispatcher(
        store, SubmitThenBookkeep(), settings, clock, "w1", heartbeat_seconds=0.01, wake_on_end=False
    )
    await dispatcher.tick()
    assert await dispatcher.join(WAIT)
    assert bookkeeping_done == [True]
    assert not any("lease lost" in line for line in logs), logs
    assert store.cases.get(case.id).state is CaseState.SUBMITTED


async def test_stranded_submitting_case_is_reclaimed_for_reconciliation(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, lease_seconds=60)
    case = cancel_case(store, settings)
    assert store.cases.claim(case.id, "dead", lease_seconds=60) is not None
    store.cases.mark_submit_intent(case.id, "dead")
    clock.advance(seconds=61)
    runner = InstantRunner(store)
    seen: list[CaseState] = []

    async def reconcile(c: Case, worker: str) -> None:
        seen.append(c.state)
        await asyncio.to_thread(
            store.cases.transition,
            c.id,
            CaseState.SUBMITTED,
            expected_from=CaseState.SUBMITTING,
            owner=worker,
        )

    runner.run_case = reconcile  # type: ignore[method-assign, assignment]
    dispatcher = Dispatcher(store, runner, settings, clock, "w1", wake_on_end=False)
    assert await dispatcher.tick() == [case.id]
    assert await dispatcher.join(WAIT)
    assert seen == [CaseState.SUBMITTING]
    assert store.cases.get(case.id).state is CaseState.SUBMITTED


class RecordingChecker:
    """Records each account's check and overlap with case runs."""

    def __init__(self) -> None:
        self.checked: list[tuple[str, list[int]]] = []

    async def check_account(self, account_name: str, cases: list[Case]) -> None:
        self.checked.append((account_name, sorted(c.id for c in cases)))


async def test_status_checks_per_account_with_backoff(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, max_concurrency=3)
    old = submit(store, cancel_case(store, settings, "alice"))
    clock.advance(hours=72)  # `old` was submitted 72 h ago: checked hourly-scale from now on
    new = submit(store, cancel_case(store, settings, "alice"))
    bobs = submit(store, cancel_case(store, settings, "bob"))
    busy = cancel_case(store, settings, "carol")
    carols = submit(store, cancel_case(store, settings, "carol"))
    assert store.cases.claim(busy.id, "other-worker", lease_seconds=600) is not None  # carol is in use
    checker = RecordingChecker()
    dispatcher = Dispatcher(
        store, StuckRunner(), settings, clock, "w1", checker=checker, wake_on_end=False
    )
    assert sorted(await dispatcher.check_tick()) == ["alice", "bob"]
    assert await dispatcher.join(WAIT)
    assert sorted(checker.checked) == [("alice", sorted([old.id, new.id])), ("bob", [bobs.id])]
    now = clock.now
    assert store.tracking.tracking(new.id).check_due_at == now + timedelta(minutes=15)
    assert store.tracking.tracking(old.id).check_due_at == now + timedelta(hours=6)
    assert store.tracking.tracking(carols.id).check_due_at is None  # still due, account was busy
    assert await dispatcher.check_tick() == []  # nothing due for alice and bob; carol still busy
    clock.advance(minutes=15)
    store.tracking.request_check(bobs.id, event="mail_closed")  # e.g. "Your order ... is closed"
    # alice's new case is due again, bob's by the mail; carol's other lease (600 s) has expired
    assert sorted(await dispatcher.check_tick()) == ["alice", "bob", "carol"]
    assert await dispatcher.join(WAIT)
    assert sorted(checker.checked[-3:]) == [("alice", [new.id]), ("bob", [bobs.id]), ("carol", [carols.id])]


async def test_a_freed_slot_starts_the_next_case_without_waiting_for_a_tick(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    """One slot, three cases: after the one tick, each session's end claims the next case at
    once (a wake-up), never two at a time and each case once."""
    settings = _settings(tmp_path, max_concurrency=1)
    cases = [cancel_case(store, settings, account) for account in ("alice", "bob", "alice")]
    runner = GatedRunner(store)
    dispatcher = Dispatcher(store, runner, settings, clock, "w1")
    assert await dispatcher.tick() == [cases[0].id]
    for running, following in itertools.pairwise(cases):
        await wait_until(lambda c=running: c.id in runner.gates)  # type: ignore[misc]
        runner.gates[running.id].set()
        await wait_until(lambda c=following: runner.runs[c.id] == 1)  # type: ignore[misc]
    runner.gates[cases[-1].id].set()
    await wait_until(lambda: store.cases.get(cases[-1].id).state is CaseState.SUBMITTED)
    assert await dispatcher.join(WAIT)
    assert dispatcher.wakeups >= 2
    assert runner.peak_total == 1
    assert set(runner.runs.values()) == {1}
    assert {c.state for c in store.cases.list_cases()} == {CaseState.SUBMITTED}
    await dispatcher.drain(0)


async def test_wake_claims_a_case_queued_in_this_process(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, max_concurrency=2)
    runner = InstantRunner(store)
    dispatcher = Dispatcher(store, runner, settings, clock, "w1")
    assert await dispatcher.tick() == []
    case = cancel_case(store, settings, "bob")
    dispatcher.wake()
    await wait_until(lambda: runner.ran == [case.id])
    assert await dispatcher.join(WAIT)
    await wait_until(lambda: store.cases.get(case.id).state is CaseState.SUBMITTED)
    await dispatcher.drain(0)


async def test_a_draining_dispatcher_ignores_wake_ups(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    """Shutdown: a session ending (or a wake-up) during the drain claims nothing new."""
    settings = _settings(tmp_path, max_concurrency=1)
    first, second = cancel_case(store, settings, "alice"), cancel_case(store, settings, "bob")
    runner = GatedRunner(store)
    dispatcher = Dispatcher(store, runner, settings, clock, "w1")
    assert await dispatcher.tick() == [first.id]
    await wait_until(lambda: first.id in runner.gates)
    draining = asyncio.create_task(dispatcher.drain(WAIT))
    await wait_until(lambda: dispatcher.in_flight == 1 and dispatcher._closing)
    runner.gates[first.id].set()  # the session ends during the drain
    assert await draining == 0
    dispatcher.wake()
    assert store.cases.get(first.id).state is CaseState.SUBMITTED
    assert store.cases.get(second.id).state is CaseState.QUEUED and runner.runs[second.id] == 0
    assert store.cases.leased() == []
