"""The state table itself (pure logic; no database)."""

from __future__ import annotations

from collections import deque

import pytest

from bot.errors import InputError, InvalidTransitionError
from bot.states import (
    FINAL_STATES,
    INITIAL_STATES,
    TRANSITIONS,
    CaseState,
    check_transition,
    is_final,
)

PAIRS = [(a, b) for a in CaseState for b in CaseState]


def test_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(CaseState)


@pytest.mark.parametrize(("from_state", "to_state"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_check_transition_follows_the_table(from_state: CaseState, to_state: CaseState) -> None:
    if to_state in TRANSITIONS[from_state]:
        check_transition(from_state, to_state)
    else:
        with pytest.raises(InvalidTransitionError) as caught:
            check_transition(from_state, to_state)
        assert isinstance(caught.value, InputError)
        assert caught.value.context == {"from_state": from_state.value, "to_state": to_state.value}


def test_final_states() -> None:
    assert {
        CaseState.REJECTED,
        CaseState.REFUNDED,
        CaseState.FAILED,
        CaseState.CANCELED_BY_OPERATOR,
    } == FINAL_STATES
    assert all(is_final(s) for s in FINAL_STATES)
    assert not any(is_final(s) for s in set(CaseState) - FINAL_STATES)


def test_no_state_moves_to_itself() -> None:
    assert all(state not in targets for state, targets in TRANSITIONS.items())


def test_every_state_is_reachable_and_every_non_final_state_can_end() -> None:
    seen = set(INITIAL_STATES)
    todo = deque(INITIAL_STATES)
    while todo:
        for nxt in TRANSITIONS[todo.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(CaseState)
    for state in set(CaseState) - FINAL_STATES:
        reach, todo = {state}, deque([state])
        while todo:
            for nxt in TRANSITIONS[todo.popleft()]:
                if nxt not in reach:
                    reach.add(nxt)
                    todo.append(nxt)
        assert reach & FINAL_STATES, state


def test_submitting_never_goes_straight_back_to_queued() -> None:
    """After the intent the case must be reconciled (read the portal), not blindly re-queued."""
    assert CaseState.QUEUED not in TRANSITIONS[CaseState.SUBMITTING]


def test_every_state_is_documented() -> None:
    import ast
    import inspect

    import bot.states

    tree = ast.parse(inspect.getsource(bot.states))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "CaseState")
    documented = set()
    for first, second in zip(cls.body, cls.body[1:], strict=False):
        if (
            isinstance(first, ast.Assign)
            and isinstance(second, ast.Expr)
            and isinstance(second.value, ast.Constant)
            and isinstance(second.value.value, str)
        ):
            documented.add(first.targets[0].id)  # type: ignore[attr-defined]
    assert documented == {s.name for s in CaseState}
