"""Deadline rules and the sweep on a controlled clock, over both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cases import create_case
from bot.config import Settings
from bot.deadlines import RULES, set_initial_deadline, sweep
from bot.models import CaseKind
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.scheduling.conftest import cancel_case, refund_input, submit


def test_rules_are_data_with_configurable_hours(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, deadline_cancel_window_hours=72)
    assert [r.kind for r in RULES[CaseKind.CANCEL]] == ["cancel_window", "protection_expiry"]
    assert [r.kind for r in RULES[CaseKind.REFUND]] == ["seller_reply", "escalation", "protection_expiry"]
    assert RULES[CaseKind.CANCEL][0].hours(settings) == 72
    assert RULES[CaseKind.REFUND][0].hours(Settings(data_dir=tmp_path)) == 120


def test_cancel_window_end_requests_a_check_then_expiry_needs_human(
    store: Store, settings: Settings, clock: FrozenClock
) -> None:
    case = submit(store, cancel_case(store, settings))
    submitted_at = clock.now
    tracking = set_initial_deadline(store, settings, case)
    assert tracking is not None
    assert tracking.deadline_kind == "cancel_window"
    assert tracking.deadline_at == submitted_at + timedelta(hours=48)
    assert tracking.check_due_at == submitted_at + timedelta(minutes=15)
    assert set_initial_deadline(store, settings, case) is None  # idempotent

    clock.advance(hours=47, minutes=59)
    assert sweep(store, settings, clock).checks_requested == []
    assert store.tracking.tracking(case.id).check_due_at == submitted_at + timedelta(minutes=15)

    clock.advance(minutes=2)  # 48 h and a minute after the submit
    report = sweep(store, settings, clock)
    assert report.checks_requested == [case.id]
    after = store.tracking.tracking(case.id)
    assert after.check_due_at == clock.now
    assert after.deadline_kind == "protection_expiry"
    assert after.deadline_at == submitted_at + timedelta(hours=96)
    event = store.cases.history(case.id)[-1]
    assert event.kind == "deadline_reached" and event.detail["deadline_kind"] == "cancel_window"
    assert sweep(store, settings, clock).checks_requested == []  # once only

    clock.now = submitted_at + timedelta(hours=96)
    report = sweep(store, settings, clock)
    assert report.expired == [case.id]
    assert store.cases.get(case.id).state is CaseState.NEEDS_HUMAN
    assert store.cases.history(case.id)[-1].kind == "deadline_expired"
    assert store.tracking.tracking(case.id).deadline_kind is None


def test_refund_chain_catches_up_after_downtime(store: Store, settings: Settings, clock: FrozenClock) -> None:
    case = submit(store, create_case(store, settings, refund_input()))
    submitted_at = clock.now
    report = sweep(store, settings, clock)  # starts the chain of a submitted case without one
    assert report.started == [case.id]
    assert store.tracking.tracking(case.id).deadline_kind == "seller_reply"

    clock.now = submitted_at + timedelta(days=8)  # seller reply (5 d) and escalation (7 d) both passed
    report = sweep(store, settings, clock)
    assert report.checks_requested == [case.id] and report.expired == []
    kinds = [
        e.detail.get("deadline_kind") for e in store.cases.history(case.id) if e.kind == "deadline_reached"
    ]
    assert kinds == ["seller_reply", "escalation"]
    after = store.tracking.tracking(case.id)
    assert after.deadline_kind == "protection_expiry"
    assert after.deadline_at == submitted_at + timedelta(days=90)
    assert after.check_due_at == clock.now


def test_cases_with_an_outcome_are_not_swept(store: Store, settings: Settings, clock: FrozenClock) -> None:
    case = submit(store, cancel_case(store, settings))
    set_initial_deadline(store, settings, case)
    store.cases.transition(case.id, CaseState.APPROVED, expected_from=CaseState.SUBMITTED)
    clock.advance(hours=200)
    report = sweep(store, settings, clock)
    assert report.checks_requested == [] and report.expired == [] and report.started == []
    assert store.cases.get(case.id).state is CaseState.APPROVED


def test_a_deadline_never_postpones_a_check_a_mail_asked_for(
    store: Store, settings: Settings, clock: FrozenClock
) -> None:
    """A mail rang the doorbell (check due now) before the sweep set the first deadline: the
    deadline's later first check must not push the asked-for check back (the case would wait
    for the page until then although the outcome is already there)."""
    case = submit(store, cancel_case(store, settings))
    clock.advance(minutes=1)
    store.tracking.request_check(case.id, detail={"source": "mail"})
    asked = store.tracking.tracking(case.id).check_due_at
    assert asked == clock.now
    clock.advance(minutes=3)
    tracking = set_initial_deadline(store, settings, case)
    assert tracking is not None and tracking.deadline_kind == "cancel_window"
    assert store.tracking.tracking(case.id).check_due_at == asked
