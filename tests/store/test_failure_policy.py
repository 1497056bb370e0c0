"""The one failure policy (`bot.states.after_failure`): pure, no database.

A table of cases: every action × budget left / spent × the two leased states, then the
properties that must hold for every state and action (targets always allowed by the table,
nothing moves outside the leased states, a lost lease writes nothing).
"""

from __future__ import annotations

import re

import pytest

from bot.errors import (
    Action,
    ChallengeRequiredError,
    LeaseLostError,
    NotEligibleError,
    PortalUnavailableError,
    RecoupError,
    RunnerCrashedError,
    SecretMissingError,
    SessionExpiredError,
    SubmitUnconfirmedError,
)
from bot.states import (
    LEASED_STATES,
    TRANSITIONS,
    Budgets,
    CaseState,
    after_failure,
)

S = CaseState
MAX_ATTEMPTS, MAX_SESSION = 5, 3
LEFT = Budgets(attempts=1, max_attempts=MAX_ATTEMPTS, session_attempts=1, max_session_attempts=MAX_SESSION)
"""Budget left on both counts: this attempt is the 2nd of each."""
LAST = Budgets(
    attempts=MAX_ATTEMPTS - 1,
    max_attempts=MAX_ATTEMPTS,
    session_attempts=MAX_SESSION - 1,
    max_session_attempts=MAX_SESSION,
)
"""This attempt is the last one each budget allows: it spends it."""

# (state, action, budgets) → (to_state, counted_on, used, retry, exhausted)
TABLE: list[tuple[CaseState, Action, Budgets, tuple[CaseState | None, str | None, int, bool, bool]]] = [
    # retry: back to queued with backoff; spent → failed; in submitting stay, spent → a human
    (S.RUNNING, Action.RETRY, LEFT, (S.QUEUED, "attempts", 2, True, False)),
    (S.RUNNING, Action.RETRY, LAST, (S.FAILED, "attempts", MAX_ATTEMPTS, False, True)),
    (S.SUBMITTING, Action.RETRY, LEFT, (None, "attempts", 2, True, False)),
    (S.SUBMITTING, Action.RETRY, LAST, (S.NEEDS_HUMAN, "attempts", MAX_ATTEMPTS, False, True)),
    # relogin: the same, on the session budget
    (S.RUNNING, Action.RELOGIN, LEFT, (S.QUEUED, "session", 2, True, False)),
    (S.RUNNING, Action.RELOGIN, LAST, (S.FAILED, "session", MAX_SESSION, False, True)),
    (S.SUBMITTING, Action.RELOGIN, LEFT, (None, "session", 2, True, False)),
    (S.SUBMITTING, Action.RELOGIN, LAST, (S.NEEDS_HUMAN, "session", MAX_SESSION, False, True)),
    # needs_human: parked whatever the budget (counted, never exhausted, never retried)
    (S.RUNNING, Action.NEEDS_HUMAN, LEFT, (S.NEEDS_HUMAN, "attempts", 2, False, False)),
    (S.RUNNING, Action.NEEDS_HUMAN, LAST, (S.NEEDS_HUMAN, "attempts", MAX_ATTEMPTS, False, False)),
    (S.SUBMITTING, Action.NEEDS_HUMAN, LEFT, (S.NEEDS_HUMAN, "attempts", 2, False, False)),
    (S.SUBMITTING, Action.NEEDS_HUMAN, LAST, (S.NEEDS_HUMAN, "attempts", MAX_ATTEMPTS, False, False)),
    # fix_config: parked, no budget spent (issue 13)
    (S.RUNNING, Action.FIX_CONFIG, LEFT, (S.NEEDS_HUMAN, None, 0, False, False)),
    (S.RUNNING, Action.FIX_CONFIG, LAST, (S.NEEDS_HUMAN, None, 0, False, False)),
    (S.SUBMITTING, Action.FIX_CONFIG, LEFT, (S.NEEDS_HUMAN, None, 0, False, False)),
    (S.SUBMITTING, Action.FIX_CONFIG, LAST, (S.NEEDS_HUMAN, None, 0, False, False)),
    # reconcile (submit unconfirmed): stays for reconciliation, no backoff; spent → a human
    (S.SUBMITTING, Action.RECONCILE, LEFT, (None, "attempts", 2, False, False)),
    (S.SUBMITTING, Action.RECONCILE, LAST, (S.NEEDS_HUMAN, "attempts", MAX_ATTEMPTS, False, True)),
    (S.RUNNING, Action.RECONCILE, LEFT, (None, "attempts", 2, False, False)),
    (S.RUNNING, Action.RECONCILE, LAST, (S.NEEDS_HUMAN, "attempts", MAX_ATTEMPTS, False, True)),
    # give_up: failed at once; from submitting (the click may have landed) a human decides
    (S.RUNNING, Action.GIVE_UP, LEFT, (S.FAILED, "attempts", 2, False, False)),
    (S.RUNNING, Action.GIVE_UP, LAST, (S.FAILED, "attempts", MAX_ATTEMPTS, False, False)),
    (S.SUBMITTING, Action.GIVE_UP, LEFT, (S.NEEDS_HUMAN, "attempts", 2, False, False)),
    (S.SUBMITTING, Action.GIVE_UP, LAST, (S.NEEDS_HUMAN, "attempts", MAX_ATTEMPTS, False, False)),
]


@pytest.mark.parametrize(
    ("state", "action", "budgets", "expected"),
    TABLE,
    ids=[f"{s.value}-{a.value}-{'last' if b is LAST else 'left'}" for s, a, b, _ in TABLE],
)
def test_policy_table(
    state: CaseState,
    action: Action,
    budgets: Budgets,
    expected: tuple[CaseState | None, str | None, int, bool, bool],
) -> None:
    to_state, counted_on, used, retry, exhausted = expected
    decision = after_failure(state, action, budgets)
    assert (decision.to_state, decision.counted_on, decision.used) == (to_state, counted_on, used)
    assert (decision.retry, decision.exhausted, decision.stop) == (retry, exhausted, False)


def test_the_table_covers_every_action_in_both_leased_states() -> None:
    covered = {(state, action, budgets is LAST) for state, action, _b, _e in TABLE for budgets in (_b,)}
    wanted = {
        (state, action, last)
        for state in LEASED_STATES
        for action in Action
        if action is not Action.STOP
        for last in (False, True)
    }
    assert covered == wanted


@pytest.mark.parametrize("state", list(CaseState), ids=str)
@pytest.mark.parametrize("budgets", [LEFT, LAST], ids=["left", "last"])
def test_a_lost_lease_stops_and_writes_nothing(state: CaseState, budgets: Budgets) -> None:
    decision = after_failure(state, Action.STOP, budgets)
    assert decision.stop
    assert (decision.to_state, decision.counted_on, decision.retry, decision.exhausted) == (
        None,
        None,
        False,
        False,
    )


@pytest.mark.parametrize("action", list(Action), ids=str)
@pytest.mark.parametrize("state", list(CaseState), ids=str)
@pytest.mark.parametrize("budgets", [LEFT, LAST], ids=["left", "last"])
def test_every_decision_is_allowed_by_the_table(state: CaseState, action: Action, budgets: Budgets) -> None:
    decision = after_failure(state, action, budgets)
    if decision.to_state is not None:
        assert decision.to_state in TRANSITIONS[state]
        assert state in LEASED_STATES  # only a leased case moves on a failure
    assert not (decision.retry and decision.exhausted)
    assert decision.stop is (action is Action.STOP)


def test_a_spent_budget_never_retries_and_the_other_budget_is_not_touched() -> None:
    session_spent = Budgets(attempts=0, max_attempts=5, session_attempts=2, max_session_attempts=3)
    assert after_failure(S.RUNNING, Action.RETRY, session_spent).to_state is S.QUEUED
    assert after_failure(S.RUNNING, Action.RELOGIN, session_spent).to_state is S.FAILED
    attempts_spent = Budgets(attempts=4, max_attempts=5, session_attempts=0, max_session_attempts=3)
    assert after_failure(S.RUNNING, Action.RELOGIN, attempts_spent).to_state is S.QUEUED
    assert after_failure(S.RUNNING, Action.RETRY, attempts_spent).to_state is S.FAILED


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (PortalUnavailableError("502"), Action.RETRY),
        (SessionExpiredError("bounced"), Action.RELOGIN),
        (ChallengeRequiredError("slider"), Action.NEEDS_HUMAN),
        (RunnerCrashedError("bug"), Action.NEEDS_HUMAN),
        (SubmitUnconfirmedError("no confirmation"), Action.RECONCILE),
        (SecretMissingError("env:X"), Action.FIX_CONFIG),
        (NotEligibleError("shipped"), Action.GIVE_UP),
        (LeaseLostError("taken over"), Action.STOP),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, RecoupError) else str(v),
)
def test_each_error_class_carries_the_action_the_policy_reads(error: RecoupError, action: Action) -> None:
    assert error.action is action


def test_every_error_class_lives_in_the_tree_and_its_docstring() -> None:
    import bot.dispatcher
    import bot.engine
    import bot.errors

    assert bot.engine and bot.dispatcher  # imported so that any error class they define is seen
    tree = bot.errors.__doc__ or ""
    todo: list[type[RecoupError]] = [RecoupError]
    seen: list[type[RecoupError]] = []
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    for cls in seen:
        if cls.__module__.startswith("tests"):
            continue
        assert cls.__module__ == "bot.errors", f"{cls.__name__} is defined in {cls.__module__}"
        assert re.search(rf"── {cls.__name__}\b", tree) or cls is RecoupError, cls.__name__
