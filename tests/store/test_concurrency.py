"""Real concurrency: several workers, each with its own engine, hammer `claim_next_ready`."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import add_account, new_case

WORKERS = 4
ACCOUNTS = 4
CASES_PER_ACCOUNT = 10


def test_two_workers_never_run_one_case(db_url: str, clock: FrozenClock) -> None:
    with Store.open(db_url, clock=clock) as setup:
        for a in range(ACCOUNTS):
            add_account(setup, f"acct{a}")
        all_ids = {
            setup.intake.create_with(new_case(f"acct{a}")).id
            for a in range(ACCOUNTS)
            for _ in range(CASES_PER_ACCOUNT)
        }

    lock = threading.Lock()
    holders: dict[str, str] = {}
    claims: list[tuple[int, str]] = []
    violations: list[str] = []
    start = threading.Barrier(WORKERS)
    stop = threading.Event()  # one worker failed: the others must not spin on its leased account
    deadline = time.monotonic() + 120

    def worker(owner: str) -> None:
        try:
            run(owner)
        except BaseException:
            stop.set()
            raise

    def run(owner: str) -> None:
        with Store.open(db_url, clock=clock, migrate=False) as store:
            start.wait(timeout=30)
            while not stop.is_set():
                assert time.monotonic() < deadline, "workers did not finish the queue"
                case = store.dispatch.claim_next_ready(owner, lease_seconds=300)
                if case is None:
                    if not store.cases.list_cases(states=[CaseState.QUEUED]):
                        return
                    continue
                with lock:
                    claims.append((case.id, owner))
                    if case.account in holders:
                        violations.append(f"{owner} and {holders[case.account]} both hold {case.account}")
                    holders[case.account] = owner
                live = [c for c in store.cases.leased() if c.account == case.account]
                if [c.id for c in live] != [case.id]:
                    violations.append(f"{case.account} has leased cases {[c.id for c in live]}")
                store.cases.mark_submit_intent(case.id, owner)
                store.cases.renew_lease(case.id, owner, lease_seconds=300)
                with lock:
                    holders.pop(case.account, None)
                store.cases.transition(
                    case.id, CaseState.SUBMITTED, expected_from=CaseState.SUBMITTING, owner=owner
                )

    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(worker, f"w{i}") for i in range(WORKERS)]
        for future in futures:
            future.result(timeout=300)

    assert violations == []
    counts = Counter(case_id for case_id, _ in claims)
    assert set(counts) == all_ids
    assert set(counts.values()) == {1}  # each case claimed exactly once
    assert len({owner for _, owner in claims}) >= 2  # the workers really ran side by side
    with Store.open(db_url, clock=clock, migrate=False) as check:
        cases = check.cases.list_cases()
        assert {c.state for c in cases} == {CaseState.SUBMITTED}
        for case in cases:
            assert [e.kind for e in check.cases.history(case.id)].count("claimed") == 1
