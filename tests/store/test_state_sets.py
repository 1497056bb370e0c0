"""Every set of states lives in `bot.states`, and every state is shown everywhere: a CLI exit
code, a table style and a report label (a new state cannot be forgotten in one of them)."""

from __future__ import annotations

from pathlib import Path

import pytest

import bot.cli.orders
import bot.deadlines
import bot.dispatcher
import bot.outcomes
import bot.states
import bot.store._base
from bot.cli.common import STATE_CODES, STATE_STYLES, ExitCode, state_style
from bot.report import render_case_report, state_label
from bot.states import (
    CLAIMABLE_STATES,
    ERROR_KEEPING_STATES,
    FILING_STATES,
    FINAL_STATES,
    LEASED_STATES,
    OPEN_STATES,
    OUTCOME_STATES,
    STATE_LABELS,
    STATUS_CHECK_STATES,
    SWEPT_STATES,
    TRACKED_STATES,
    CaseState,
)


@pytest.mark.parametrize("state", list(CaseState), ids=str)
def test_every_state_has_an_exit_code_a_style_and_a_report_label(state: CaseState) -> None:
    assert isinstance(STATE_CODES[state], ExitCode)
    assert state_style(state) in {"green", "yellow", "red", "cyan"}
    label = STATE_LABELS[state]
    assert label and state_label(state.value) == label


def test_the_maps_list_exactly_the_states() -> None:
    assert set(STATE_CODES) == set(STATE_STYLES) == set(STATE_LABELS) == set(CaseState)


def test_the_report_shows_the_label(tmp_path: Path) -> None:
    report = render_case_report(
        {
            "account": "ann",
            "order_id": "3042417938137202",
            "kind": "cancel",
            "state": CaseState.SUBMITTING.value,
            "created_at": "2025-01-01T00:00:00+00:00",
        },
        [],
        tmp_path,
    )
    assert STATE_LABELS[CaseState.SUBMITTING] in report.read_text(encoding="utf-8")


def test_the_sets_hang_together() -> None:
    assert set(CaseState) - FINAL_STATES == OPEN_STATES
    assert TRACKED_STATES is STATUS_CHECK_STATES
    assert SWEPT_STATES <= STATUS_CHECK_STATES <= OPEN_STATES
    assert LEASED_STATES <= FILING_STATES <= OPEN_STATES
    assert CLAIMABLE_STATES <= OPEN_STATES
    assert not (OUTCOME_STATES & ERROR_KEEPING_STATES)


def test_the_modules_that_use_a_set_take_it_from_bot_states() -> None:
    """No module keeps its own copy of a state set (they are the very objects of bot.states)."""
    assert bot.outcomes.TRACKED_STATES is bot.states.TRACKED_STATES
    assert bot.deadlines.SWEPT_STATES is bot.states.SWEPT_STATES
    assert bot.dispatcher.STATUS_CHECK_STATES is bot.states.STATUS_CHECK_STATES
    assert bot.cli.orders.OPEN_STATES is bot.states.OPEN_STATES
    assert bot.store._base.OUTCOME_STATES is bot.states.OUTCOME_STATES
    assert bot.store._base.ERROR_KEEPING_STATES is bot.states.ERROR_KEEPING_STATES
