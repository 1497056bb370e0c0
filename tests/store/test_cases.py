"""Creating cases and moving them through the state table, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import pytest

from bot.errors import (
    DuplicateCaseError,
    InputError,
    InvalidOrderIdError,
    InvalidTransitionError,
    LeaseLostError,
    StaleStateError,
    UnknownAccountError,
    UnknownCaseError,
)
from bot.models import CaseKind, NewCase
from bot.states import TRANSITIONS, CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import add_account, drive_to, new_case


def path_to(target: CaseState) -> list[CaseState]:
    """Shortest list of states leading from `queued` to `target` (excluding queued)."""
    if target is CaseState.AWAITING_APPROVAL:
        raise ValueError("awaiting_approval is only an initial state")
    previous: dict[CaseState, CaseState] = {}
    todo = deque([CaseState.QUEUED])
    while todo:
        state = todo.popleft()
        for nxt in TRANSITIONS[state]:
            if nxt not in previous and nxt is not CaseState.QUEUED:
                previous[nxt] = state
                todo.append(nxt)
    path: list[CaseState] = []
    state = target
    while state is not CaseState.QUEUED:
        path.append(state)
        state = previous[state]
    return path[::-1]


def case_in(store: Store, state: CaseState):  # type: ignore[no-untyped-def]
    if state is CaseState.AWAITING_APPROVAL:
        return store.intake.create_with(new_case(), initial_state=CaseState.AWAITING_APPROVAL)
    return drive_to(store, store.intake.create_with(new_case()), path_to(state))


def test_create_writes_the_case_and_a_created_event(store: Store, clock: FrozenClock) -> None:
    case = store.intake.create_with(new_case(kind=CaseKind.REFUND))
    assert case.state is CaseState.QUEUED
    assert case.amount == Decimal("12.50") and case.currency == "USD"
    assert case.created_at == clock.now and case.account == "alice"
    assert store.cases.get(case.id) == case
    [event] = store.cases.history(case.id)
    assert (event.from_state, event.to_state, event.kind, event.at) == (
        None,
        CaseState.QUEUED,
        "created",
        clock.now,
    )


def test_duplicate_case_points_to_the_existing_one(store: Store) -> None:
    first = store.intake.create_with(new_case(order_id="800000000000000001"))
    with pytest.raises(DuplicateCaseError) as caught:
        store.intake.create_with(new_case(order_id="800000000000000001"))
    assert isinstance(caught.value, InputError)
    assert caught.value.existing_case_id == first.id
    # same order, other kind, is a different case; other account too
    store.intake.create_with(new_case(order_id="800000000000000001", kind=CaseKind.REFUND))
    add_account(store, "bob")
    store.intake.create_with(new_case("bob", order_id="800000000000000001"))
    assert len(store.cases.list_cases()) == 3
    assert len(store.cases.history(first.id)) == 1


def test_duplicate_race_on_the_unique_constraint(store: Store) -> None:
    """Even when the pre-check misses (a concurrent insert), the constraint refuses it."""
    first = store.intake.create_with(new_case(order_id="800000000000000002"))
    original = type(store.intake)._find_id
    calls = {"n": 0}

    def miss_first(session, account_id, order_id, kind):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return None if calls["n"] == 1 else original(session, account_id, order_id, kind)

    store.intake._find_id = miss_first  # type: ignore[method-assign]
    with pytest.raises(DuplicateCaseError) as caught:
        store.intake.create_with(new_case(order_id="800000000000000002"))
    assert caught.value.existing_case_id == first.id


def test_create_refuses_bad_input_and_writes_nothing(store: Store) -> None:
    with pytest.raises(UnknownAccountError):
        store.intake.create_with(new_case("nobody"))
    with pytest.raises(InvalidOrderIdError):
        NewCase(account="alice", order_id="12ab", kind=CaseKind.CANCEL, reason="x")
    with pytest.raises(InvalidTransitionError):
        store.intake.create_with(new_case(), initial_state=CaseState.RUNNING)
    assert store.cases.list_cases() == []


def test_get_unknown_case(store: Store) -> None:
    with pytest.raises(UnknownCaseError):
        store.cases.get(4242)


def test_get_many_reads_cases_in_the_order_asked_and_names_a_missing_one(store: Store) -> None:
    a, b, c = (store.intake.create_with(new_case()) for _ in range(3))
    store.cases.transition(b.id, CaseState.RUNNING, expected_from=CaseState.QUEUED)
    got = store.cases.get_many([c.id, a.id, b.id])
    assert [x.id for x in got] == [c.id, a.id, b.id]
    assert got == [store.cases.get(c.id), store.cases.get(a.id), store.cases.get(b.id)]
    assert store.cases.get_many([]) == []
    with pytest.raises(UnknownCaseError) as info:
        store.cases.get_many([a.id, 999_999])
    assert info.value.context["case_id"] == 999_999


NON_INITIAL = [s for s in CaseState if s is not CaseState.AWAITING_APPROVAL]


@pytest.mark.parametrize("from_state", list(CaseState), ids=str)
def test_every_allowed_transition_works_and_every_other_is_refused(
    store: Store, from_state: CaseState
) -> None:
    case = case_in(store, from_state)
    assert case.state is from_state
    events_before = len(store.cases.history(case.id))
    for to_state in CaseState:
        if to_state in TRANSITIONS[from_state]:
            continue
        with pytest.raises(InvalidTransitionError):
            store.cases.transition(case.id, to_state, expected_from=from_state)
    assert store.cases.get(case.id).state is from_state
    assert len(store.cases.history(case.id)) == events_before  # refused → nothing written

    for to_state in TRANSITIONS[from_state]:
        fresh = case_in(store, from_state)
        moved = store.cases.transition(fresh.id, to_state, expected_from=from_state, detail={"why": "test"})
        assert moved.state is to_state
        assert store.cases.get(fresh.id).state is to_state
        last = store.cases.history(fresh.id)[-1]
        assert (last.from_state, last.to_state, last.kind, last.detail) == (
            from_state,
            to_state,
            "transition",
            {"why": "test"},
        )


def test_each_change_writes_one_event_in_order(store: Store, clock: FrozenClock) -> None:
    case = store.intake.create_with(new_case())
    path = [
        CaseState.RUNNING,
        CaseState.SUBMITTING,
        CaseState.SUBMITTED,
        CaseState.APPROVED,
        CaseState.REFUNDED,
    ]
    for state in path:
        clock.advance(5)
        case = store.cases.transition(case.id, state, expected_from=case.state)
    events = store.cases.history(case.id)
    assert [(e.from_state, e.to_state) for e in events] == list(
        zip([None, CaseState.QUEUED, *path[:-1]], [CaseState.QUEUED, *path], strict=True)
    )
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert case.outcome_at is not None


def test_optimistic_check_refuses_a_stale_expectation(store: Store) -> None:
    case = store.intake.create_with(new_case())
    store.cases.transition(case.id, CaseState.RUNNING, expected_from=CaseState.QUEUED)
    with pytest.raises(StaleStateError):
        store.cases.transition(case.id, CaseState.RUNNING, expected_from=CaseState.QUEUED)
    with pytest.raises(StaleStateError):
        store.cases.transition(case.id, CaseState.FAILED, expected_from=CaseState.QUEUED)
    assert store.cases.get(case.id).state is CaseState.RUNNING
    assert len(store.cases.history(case.id)) == 2


def test_transition_with_owner_needs_the_live_lease(store: Store, clock: FrozenClock) -> None:
    store.intake.create_with(new_case())
    case = store.dispatch.claim_next_ready("w1", lease_seconds=60)
    assert case is not None
    with pytest.raises(LeaseLostError):
        store.cases.transition(case.id, CaseState.FAILED, expected_from=CaseState.RUNNING, owner="w2")
    clock.advance(61)
    with pytest.raises(LeaseLostError):
        store.cases.transition(case.id, CaseState.FAILED, expected_from=CaseState.RUNNING, owner="w1")
    assert store.cases.get(case.id).state is CaseState.RUNNING


def test_outcome_fields_are_stored_with_the_change(store: Store) -> None:
    case = drive_to(store, store.intake.create_with(new_case()), path_to(CaseState.SUBMITTED))
    done = store.cases.transition(
        case.id,
        CaseState.REFUNDED,
        expected_from=CaseState.SUBMITTED,
        portal_request_ref="R-77",
        outcome_amount=Decimal("9.99"),
        outcome_note="seller agreed",
    )
    assert (done.portal_request_ref, done.outcome_amount, done.outcome_note) == (
        "R-77",
        Decimal("9.99"),
        "seller agreed",
    )
    assert done.lease_owner is None


def test_list_filters(store: Store) -> None:
    add_account(store, "bob")
    a = store.intake.create_with(new_case("alice"))
    b = store.intake.create_with(new_case("bob", kind=CaseKind.REFUND))
    store.cases.transition(b.id, CaseState.RUNNING, expected_from=CaseState.QUEUED)
    assert [c.id for c in store.cases.list_cases(account="alice")] == [a.id]
    assert [c.id for c in store.cases.list_cases(states=[CaseState.RUNNING])] == [b.id]
    assert [c.id for c in store.cases.list_cases(kind=CaseKind.CANCEL)] == [a.id]
    assert store.cases.find("bob", b.order_id, CaseKind.REFUND) == store.cases.get(b.id)
    assert store.cases.find("bob", b.order_id, CaseKind.CANCEL) is None


def test_outbox_rows_are_written_with_each_event(db_url: str, clock: FrozenClock) -> None:
    with Store.open(db_url, clock=clock, outbox_targets=("webhook",)) as store:
        add_account(store, "alice")
        case = store.intake.create_with(new_case())
        store.cases.transition(case.id, CaseState.RUNNING, expected_from=CaseState.QUEUED)
        due = store.outbox.due()
        events = store.cases.history(case.id)
        assert [m.event_id for m in due] == [e.id for e in events]
        assert due[1].payload["to_state"] == "running" and due[1].payload["order_id"] == case.order_id
        store.outbox.mark_delivered(due[0].id)
        store.outbox.mark_failed(due[1].id, "HTTP 503", retry_at=clock.now.replace(hour=13))
        assert store.outbox.due() == []
        clock.advance(3600)
        [again] = store.outbox.due(target="webhook")
        assert (again.id, again.attempts, again.last_error) == (due[1].id, 1, "HTTP 503")
