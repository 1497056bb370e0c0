"""A case's outcome note explains its CURRENT state: every move replaces it (issue 14: a refunded
case kept "the seller made a counter-proposal", a submitted case kept the slider note, `cases
retry` after a dry run still said "dry run: ready to submit"). On SQLite and PostgreSQL."""

from __future__ import annotations

from bot.errors import ChallengeRequiredError
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import drive_to, new_case


def test_a_note_does_not_outlive_the_state_it_explained(store: Store) -> None:
    case = store.intake.create_with(new_case())
    case = drive_to(store, case, [CaseState.RUNNING, CaseState.SUBMITTING, CaseState.SUBMITTED])
    offer = store.cases.transition(case.id, CaseState.COUNTER_OFFER, expected_from=CaseState.SUBMITTED,
                                   outcome_note="the seller made a counter-proposal")  # fmt: skip
    assert offer.outcome_note == "the seller made a counter-proposal"
    back = store.cases.transition(case.id, CaseState.SUBMITTED, expected_from=CaseState.COUNTER_OFFER)
    assert back.outcome_note is None
    done = store.cases.transition(case.id, CaseState.APPROVED, expected_from=CaseState.SUBMITTED,
                                  outcome_note="the seller approved")  # fmt: skip
    assert store.cases.get(done.id).outcome_note == "the seller approved"


def test_a_parked_case_sent_back_to_the_queue_loses_its_note(store: Store, clock: FrozenClock) -> None:
    case = store.intake.create_with(new_case())
    case = drive_to(store, case, [CaseState.RUNNING])
    slider = ChallengeRequiredError("a slider challenge is showing")
    parked = store.cases.record_failure(case.id, worker="w", started_at=clock(), error=slider)
    assert parked.state is CaseState.NEEDS_HUMAN and parked.outcome_note == "a slider challenge is showing"
    clock.advance(60)
    retried = store.cases.transition(case.id, CaseState.QUEUED, expected_from=CaseState.NEEDS_HUMAN,
                                     kind="retry_by_operator")  # fmt: skip
    assert retried.outcome_note is None
    assert store.cases.history(case.id)[-1].kind == "retry_by_operator"
