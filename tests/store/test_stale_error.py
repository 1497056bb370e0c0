"""`last_error` says why a case waits; once the case moves on (request in, outcome, withdrawn)
no list shows it any more (issue 13, finding 12)."""

from __future__ import annotations

from bot.errors import ChallengeRequiredError, PortalUnavailableError
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.store.conftest import drive_to, new_case


def test_error_kept_while_waiting_cleared_when_the_case_moves_on(store: Store, clock: FrozenClock) -> None:
    case = store.intake.create_with(new_case())
    assert store.dispatch.claim_next_ready("w", lease_seconds=60) is not None
    store.cases.record_attempt(
        case.id,
        worker="w",
        started_at=clock.now,
        error=PortalUnavailableError("HTTP 503"),
        to_state=CaseState.QUEUED,
    )
    waiting = store.cases.get(case.id)
    assert waiting.state is CaseState.QUEUED and waiting.last_error == "PortalUnavailableError: HTTP 503"

    clock.advance(3600)
    assert store.dispatch.claim_next_ready("w", lease_seconds=60) is not None
    assert store.cases.get(case.id).last_error == "PortalUnavailableError: HTTP 503"  # still retrying
    submitted = drive_to(store, store.cases.get(case.id), [CaseState.SUBMITTED])
    assert submitted.last_error is None
    assert [c.last_error for c in store.cases.list_cases()] == [None]


def test_needs_human_keeps_its_cause_until_an_outcome(store: Store, clock: FrozenClock) -> None:
    case = store.intake.create_with(new_case())
    assert store.dispatch.claim_next_ready("w", lease_seconds=60) is not None
    store.cases.record_attempt(
        case.id,
        worker="w",
        started_at=clock.now,
        error=ChallengeRequiredError("slider"),
        to_state=CaseState.NEEDS_HUMAN,
    )
    parked = store.cases.get(case.id)
    assert parked.last_error == "ChallengeRequiredError: slider"
    assert drive_to(store, parked, [CaseState.SUBMITTED]).last_error is None
