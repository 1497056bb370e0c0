"""Claiming with leases: one leased case per account, expiry, renew, release, reclaim."""

from __future__ import annotations

import pytest

from bot.errors import LeaseLostError
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import add_account, new_case


def test_claim_moves_the_oldest_due_case_to_running_with_a_lease(store: Store, clock: FrozenClock) -> None:
    first = store.intake.create_with(new_case())
    clock.advance(1)
    store.intake.create_with(new_case())
    claimed = store.dispatch.claim_next_ready("w1", lease_seconds=120)
    assert claimed is not None and claimed.id == first.id
    assert claimed.state is CaseState.RUNNING
    assert claimed.lease_owner == "w1"
    assert claimed.lease_expires_at is not None
    assert (claimed.lease_expires_at - clock.now).total_seconds() == 120
    event = store.cases.history(first.id)[-1]
    assert (event.kind, event.from_state, event.to_state, event.detail["owner"]) == (
        "claimed",
        CaseState.QUEUED,
        CaseState.RUNNING,
        "w1",
    )


def test_one_leased_case_per_account(store: Store) -> None:
    add_account(store, "bob")
    a1 = store.intake.create_with(new_case("alice"))
    a2 = store.intake.create_with(new_case("alice"))
    b1 = store.intake.create_with(new_case("bob"))
    first = store.dispatch.claim_next_ready("w1", lease_seconds=60)
    second = store.dispatch.claim_next_ready("w2", lease_seconds=60)
    assert first is not None and second is not None
    assert (first.id, second.id) == (a1.id, b1.id)  # a2 waits: alice is busy
    assert store.dispatch.claim_next_ready("w3", lease_seconds=60) is None
    assert store.cases.claim(a2.id, "w3", lease_seconds=60) is None
    # alice's first case finishes → the account is free again
    store.cases.transition(a1.id, CaseState.SUBMITTING, expected_from=CaseState.RUNNING, owner="w1")
    assert store.dispatch.claim_next_ready("w3", lease_seconds=60) is None  # still leased while submitting
    store.cases.transition(a1.id, CaseState.SUBMITTED, expected_from=CaseState.SUBMITTING, owner="w1")
    third = store.dispatch.claim_next_ready("w3", lease_seconds=60)
    assert third is not None and third.id == a2.id


def test_not_due_cases_wait(store: Store, clock: FrozenClock) -> None:
    case = store.intake.create_with(new_case())
    claimed = store.dispatch.claim_next_ready("w1", lease_seconds=60)
    assert claimed is not None
    from bot.errors import PortalUnavailableError

    store.cases.record_attempt(
        case.id,
        worker="w1",
        started_at=clock.now,
        error=PortalUnavailableError("502"),
        to_state=CaseState.QUEUED,
    )
    due = store.cases.get(case.id).next_attempt_at
    assert due is not None and due > clock.now
    assert store.dispatch.claim_next_ready("w1", lease_seconds=60) is None
    clock.now = due
    again = store.dispatch.claim_next_ready("w2", lease_seconds=60)
    assert again is not None and again.id == case.id


def test_renew_extends_and_a_lost_lease_is_reported(store: Store, clock: FrozenClock) -> None:
    store.intake.create_with(new_case())
    case = store.dispatch.claim_next_ready("w1", lease_seconds=60)
    assert case is not None
    clock.advance(50)
    expires = store.cases.renew_lease(case.id, "w1", lease_seconds=60)
    assert (expires - clock.now).total_seconds() == 60
    assert store.cases.get(case.id).lease_expires_at == expires
    with pytest.raises(LeaseLostError):
        store.cases.renew_lease(case.id, "w2", lease_seconds=60)
    clock.advance(61)
    with pytest.raises(LeaseLostError):
        store.cases.renew_lease(case.id, "w1", lease_seconds=60)
    with pytest.raises(LeaseLostError):
        store.cases.mark_submit_intent(case.id, "w1")
    assert store.cases.get(case.id).state is CaseState.RUNNING


def test_release_requeues_a_running_case(store: Store) -> None:
    store.intake.create_with(new_case())
    case = store.dispatch.claim_next_ready("w1", lease_seconds=60)
    assert case is not None
    with pytest.raises(LeaseLostError):
        store.cases.release_lease(case.id, "w2")
    released = store.cases.release_lease(case.id, "w1")
    assert (released.state, released.lease_owner, released.lease_expires_at) == (CaseState.QUEUED, None, None)
    assert store.cases.history(case.id)[-1].kind == "released"
    again = store.dispatch.claim_next_ready("w2", lease_seconds=60)
    assert again is not None and again.id == case.id


def test_expired_leases_are_reclaimed(store: Store, clock: FrozenClock) -> None:
    add_account(store, "bob")
    store.intake.create_with(new_case("alice"))
    store.intake.create_with(new_case("bob"))
    running = store.dispatch.claim_next_ready("dead-1", lease_seconds=60)
    other = store.dispatch.claim_next_ready("dead-2", lease_seconds=600)
    assert running is not None and other is not None
    submitting = store.cases.mark_submit_intent(other.id, "dead-2")
    assert store.cases.reclaim_expired() == []  # nothing expired yet
    clock.advance(61)
    [back] = store.cases.reclaim_expired()
    assert back.id == running.id and back.state is CaseState.QUEUED and back.lease_owner is None
    last = store.cases.history(running.id)[-1]
    assert (last.kind, last.from_state, last.to_state, last.detail["owner"]) == (
        "lease_expired",
        CaseState.RUNNING,
        CaseState.QUEUED,
        "dead-1",
    )
    clock.advance(600)
    [parked] = store.cases.reclaim_expired()
    assert parked.id == submitting.id and parked.state is CaseState.SUBMITTING  # reconcile, not retry
    assert [c.id for c in store.cases.find_submitting()] == [submitting.id]
    # a queued-case claim never picks the submitting one; an explicit reconcile claim does
    relaunched = store.dispatch.claim_next_ready("w3", lease_seconds=60)
    assert relaunched is not None and relaunched.id == running.id
    reconcile = store.cases.claim(submitting.id, "w4", lease_seconds=60)
    assert reconcile is not None and reconcile.state is CaseState.SUBMITTING and reconcile.lease_owner == "w4"
    assert store.cases.find_submitting() == []
    assert [c.id for c in store.cases.find_submitting(include_leased=True)] == [submitting.id]


def test_an_expired_lease_frees_the_account_for_a_sibling(store: Store, clock: FrozenClock) -> None:
    store.intake.create_with(new_case())
    sibling = store.intake.create_with(new_case())
    assert store.dispatch.claim_next_ready("dead", lease_seconds=30) is not None
    assert store.dispatch.claim_next_ready("w2", lease_seconds=30) is None
    clock.advance(31)
    taken = store.dispatch.claim_next_ready("w2", lease_seconds=30)
    assert taken is not None and taken.id == sibling.id
    assert [c.id for c in store.cases.leased()] == [sibling.id]
