"""Portal deadlines of a submitted case, as data, and the sweep that acts on them.

The rules (hours from the submit; each configurable in :class:`bot.config.Settings`):

========  ==================  ===================================  ==========================
kind      deadline kind       setting (default)                    when it passes
========  ==================  ===================================  ==========================
cancel    cancel_window       deadline_cancel_window_hours (48)    status check requested
cancel    protection_expiry   deadline_cancel_expiry_hours (96)    needs_human (no outcome)
refund    seller_reply        deadline_seller_reply_hours (120)    status check requested
refund    escalation          deadline_escalation_hours (168)      status check requested
refund    protection_expiry   deadline_protection_hours (2160)     needs_human (no outcome)
========  ==================  ===================================  ==========================

A passing deadline that is not the last of its chain makes the case's status check due now
(`check_due_at`, event `deadline_reached`) and moves the case on to the next deadline of its
chain. The last one (protection expiry) passing while the case is still waiting (submitted or
counter_offer) moves it to needs_human (event `deadline_expired`): the operator must look.
A case that reached an outcome (approved, rejected, ...) is no longer swept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from loguru import logger

from bot.config import Settings
from bot.models import Case, CaseKind
from bot.states import SWEPT_STATES, CaseState
from bot.store import Clock, Store
from bot.store._tracking import CaseTracking


@dataclass(frozen=True)
class DeadlineRule:
    """One deadline of a chain: its kind and the Settings field holding its hours."""

    kind: str
    hours_setting: str

    def hours(self, settings: Settings) -> float:
        """The rule's hours from `settings`."""
        value = getattr(settings, self.hours_setting)
        assert isinstance(value, int | float)
        return float(value)


RULES: MappingProxyType[CaseKind, tuple[DeadlineRule, ...]] = MappingProxyType(
    {
        CaseKind.CANCEL: (
            DeadlineRule("cancel_window", "deadline_cancel_window_hours"),
            DeadlineRule("protection_expiry", "deadline_cancel_expiry_hours"),
        ),
        CaseKind.REFUND: (
            DeadlineRule("seller_reply", "deadline_seller_reply_hours"),
            DeadlineRule("escalation", "deadline_escalation_hours"),
            DeadlineRule("protection_expiry", "deadline_protection_hours"),
        ),
    }
)
"""Deadline chains by case kind, in order. The last rule of a chain ends the waiting."""


@dataclass
class SweepReport:
    """What one sweep did, by case id."""

    started: list[int] = field(default_factory=list)
    """Submitted cases that had no deadline yet and got their first."""
    checks_requested: list[int] = field(default_factory=list)
    """Cases whose deadline passed and whose status check is now due."""
    expired: list[int] = field(default_factory=list)
    """Cases moved to needs_human because protection expired without an outcome."""


def _index(kind: CaseKind, deadline_kind: str | None) -> int | None:
    for i, rule in enumerate(RULES[kind]):
        if rule.kind == deadline_kind:
            return i
    return None


def set_initial_deadline(
    store: Store, settings: Settings, case: Case | CaseTracking, *, submitted_at: datetime | None = None
) -> CaseTracking | None:
    """Start the case's deadline chain (call it when the case becomes submitted).

    The first deadline is `submitted_at` (default: the case's submit intent, else now) plus
    its rule's hours; the first status check is due `status_check_new_minutes` after that
    time. Idempotent: a case that already has a deadline keeps it (returns None).
    Raises UnknownCaseError.
    """
    case_id = case.id if isinstance(case, Case) else case.case_id
    tracking = store.tracking.tracking(case_id)
    if tracking.deadline_kind is not None:
        return None
    base = submitted_at or tracking.submit_intent_at or store.clock()
    first = RULES[tracking.kind][0]
    at = base + timedelta(hours=first.hours(settings))
    return store.tracking.set_deadline(
        case_id,
        kind=first.kind,
        at=at,
        check_due_at=base + timedelta(minutes=settings.status_check_new_minutes),
        event="deadline_set",
        detail={"deadline_kind": first.kind, "deadline_at": at.isoformat()},
    )


def sweep(store: Store, settings: Settings, clock: Clock) -> SweepReport:
    """Act on every deadline that has passed (see the module table) and start the chain of
    submitted cases that have none. Safe to run concurrently with itself: each step is a
    conditional write that only the first sweep wins. Raises StoreUnavailableError."""
    report = SweepReport()
    for tracking in store.tracking.without_deadline(SWEPT_STATES):
        if set_initial_deadline(store, settings, tracking) is not None:
            report.started.append(tracking.case_id)
    now = clock()
    for tracking in store.tracking.passed_deadlines(SWEPT_STATES):
        _advance(store, settings, tracking, now, report)
    return report


def _advance(
    store: Store, settings: Settings, tracking: CaseTracking, now: datetime, report: SweepReport
) -> None:
    """Walk the case along its chain past every deadline that is not after `now`."""
    rules = RULES[tracking.kind]
    index = _index(tracking.kind, tracking.deadline_kind)
    if index is None or tracking.deadline_at is None:
        logger.warning(
            "case {}: unknown deadline kind {!r}; left alone", tracking.case_id, tracking.deadline_kind
        )
        return
    base = tracking.deadline_at - timedelta(hours=rules[index].hours(settings))
    current, at = rules[index], tracking.deadline_at
    while at <= now:
        if index == len(rules) - 1:
            moved = store.tracking.expire_deadline(
                tracking.case_id,
                expected_kind=current.kind,
                to_state=CaseState.NEEDS_HUMAN,
                detail={"deadline_kind": current.kind, "deadline_at": at.isoformat(),
                        "reason": "no outcome before the deadline"},
            )  # fmt: skip
            if moved is not None:
                report.expired.append(tracking.case_id)
                logger.info(
                    "case {}: {} passed without an outcome; needs a human", tracking.case_id, current.kind
                )
            return
        following = rules[index + 1]
        next_at = base + timedelta(hours=following.hours(settings))
        done = store.tracking.set_deadline(
            tracking.case_id,
            kind=following.kind,
            at=next_at,
            check_due_at=now,
            expected_kind=current.kind,
            event="deadline_reached",
            detail={"deadline_kind": current.kind, "deadline_at": at.isoformat(),
                    "next_deadline_kind": following.kind, "next_deadline_at": next_at.isoformat()},
        )  # fmt: skip
        if done is None:
            return  # another sweep moved it first
        if tracking.case_id not in report.checks_requested:
            report.checks_requested.append(tracking.case_id)
        logger.info("case {}: {} passed; status check requested", tracking.case_id, current.kind)
        index, current, at = index + 1, following, next_at
