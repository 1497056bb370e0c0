"""Attempt budgets and the backoff schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import (
    Action,
    LoginRejectedError,
    NotEligibleError,
    PortalUnavailableError,
    SessionExpiredError,
)
from bot.states import CaseState
from bot.store import RetryPolicy, Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import add_account, new_case


class FixedRandom:
    """Returns the given values in turn (the injected RNG seam)."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def test_delay_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_seconds=10, factor=2, max_seconds=100, jitter=0.2)
    middle = FixedRandom(*[0.5] * 6)
    assert [policy.delay(n, middle).total_seconds() for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
    assert policy.delay(1, FixedRandom(0.0)) == timedelta(seconds=8)  # 1 - jitter
    assert policy.delay(3, FixedRandom(0.75)) == timedelta(seconds=44)  # 1 + jitter/2
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)


def test_schedule_and_budget_on_the_store(db_url: str, clock: FrozenClock) -> None:
    policy = RetryPolicy(max_attempts=3, max_session_attempts=2, base_seconds=30, factor=3, jitter=0.1)
    rng = FixedRandom(1.0 - 1e-9, 0.0, 0.5, 0.5)
    with Store.open(db_url, clock=clock, retry=policy, rng=rng) as store:
        add_account(store, "alice")
        case = store.intake.create_with(new_case())
        waits = []
        for _ in range(2):
            claimed = store.dispatch.claim_next_ready("w", lease_seconds=60)
            assert claimed is not None
            attempt = store.cases.record_attempt(
                case.id,
                worker="w",
                started_at=clock.now,
                error=PortalUnavailableError("HTTP 502"),
                to_state=CaseState.QUEUED,
            )
            assert attempt.action is Action.RETRY and not attempt.budget_exhausted
            assert attempt.next_attempt_at is not None
            waits.append((attempt.next_attempt_at - clock.now).total_seconds())
            clock.now = attempt.next_attempt_at
        assert waits == pytest.approx([33.0, 81.0])  # 30*(1+0.1), 90*(1-0.1)

        # a session failure counts on its own budget, not the attempt budget
        assert store.dispatch.claim_next_ready("w", lease_seconds=60) is not None
        relogin = store.cases.record_attempt(
            case.id,
            worker="w",
            started_at=clock.now,
            error=SessionExpiredError("bounced to login"),
            to_state=CaseState.QUEUED,
        )
        after = store.cases.get(case.id)
        assert (after.attempts, after.session_attempts) == (2, 1)
        assert relogin.next_attempt_at is not None
        assert (relogin.next_attempt_at - clock.now).total_seconds() == pytest.approx(30.0)
        clock.now = relogin.next_attempt_at

        # third ordinary failure spends the budget: no retry scheduled, the case fails
        assert store.dispatch.claim_next_ready("w", lease_seconds=60) is not None
        last = store.cases.record_attempt(
            case.id,
            worker="w",
            started_at=clock.now,
            error=PortalUnavailableError("HTTP 503"),
            to_state=CaseState.FAILED,
        )
        assert last.budget_exhausted and last.next_attempt_at is None and last.number == 4
        final = store.cases.get(case.id)
        assert final.state is CaseState.FAILED and final.lease_owner is None
        assert final.last_error == "PortalUnavailableError: HTTP 503"
        assert [a.number for a in store.cases.attempts_of(case.id)] == [1, 2, 3, 4]
        kinds = [e.kind for e in store.cases.history(case.id)]
        assert kinds.count("attempt") == 4


def test_session_budget_exhausts_on_its_own(store: Store, clock: FrozenClock) -> None:
    budget = store.cases.retry_policy.max_session_attempts
    case = store.intake.create_with(new_case())
    results = [
        store.cases.record_attempt(case.id, worker="w", started_at=clock.now, error=SessionExpiredError("x"))
        for _ in range(budget)
    ]
    assert [r.budget_exhausted for r in results] == [False] * (budget - 1) + [True]
    assert store.cases.get(case.id).attempts == 0


@pytest.mark.parametrize(
    "error", [LoginRejectedError("wrong password"), NotEligibleError("shipped"), None], ids=repr
)
def test_no_retry_for_humans_refusals_and_success(store: Store, clock: FrozenClock, error: object) -> None:
    case = store.intake.create_with(new_case())
    attempt = store.cases.record_attempt(
        case.id,
        worker="w",
        started_at=clock.now,
        error=error,  # type: ignore[arg-type]
    )
    assert attempt.next_attempt_at is None and not attempt.budget_exhausted
    assert store.cases.get(case.id).next_attempt_at is None


def test_record_attempt_refuses_a_forbidden_state(store: Store, clock: FrozenClock) -> None:
    from bot.errors import InvalidTransitionError

    case = store.intake.create_with(new_case())
    with pytest.raises(InvalidTransitionError):
        store.cases.record_attempt(
            case.id, worker="w", started_at=clock.now, error=None, to_state=CaseState.REFUNDED
        )
    assert store.cases.attempts_of(case.id) == []  # the whole transaction rolled back


def test_record_failure_lets_the_policy_move_the_case_in_the_same_transaction(
    store: Store, clock: FrozenClock
) -> None:
    budget = store.cases.retry_policy.max_attempts
    case = store.intake.create_with(new_case())
    for n in range(1, budget + 1):
        assert store.dispatch.claim_next_ready("w", lease_seconds=60) is not None
        after = store.cases.record_failure(
            case.id, worker="w", started_at=clock.now, error=PortalUnavailableError("HTTP 502"), owner="w"
        )
        if n < budget:
            assert after.state is CaseState.QUEUED and after.next_attempt_at is not None
            clock.now = after.next_attempt_at
    assert after.state is CaseState.FAILED and after.outcome_note == "HTTP 502"
    assert after.attempts == budget and after.next_attempt_at is None
    assert [a.budget_exhausted for a in store.cases.attempts_of(case.id)] == [False] * (budget - 1) + [True]
    moves = [e for e in store.cases.history(case.id) if e.kind == "transition"]
    assert moves[-1].to_state is CaseState.FAILED and moves[-1].detail["attempt"] == budget


def test_a_lost_lease_records_nothing(store: Store, clock: FrozenClock) -> None:
    from bot.errors import LeaseLostError

    case = store.intake.create_with(new_case())
    assert store.dispatch.claim_next_ready("w", lease_seconds=60) is not None
    with pytest.raises(LeaseLostError):  # the lease error itself: stop now, write nothing
        store.cases.record_failure(
            case.id, worker="w", started_at=clock.now, error=LeaseLostError("gone"), owner="w"
        )
    with pytest.raises(LeaseLostError):  # someone else's lease: write nothing either
        store.cases.record_failure(
            case.id, worker="other", started_at=clock.now, error=PortalUnavailableError("502"), owner="other"
        )
    assert store.cases.attempts_of(case.id) == []
    still = store.cases.get(case.id)
    assert still.state is CaseState.RUNNING and still.attempts == 0 and still.lease_owner == "w"
