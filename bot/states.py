"""The case state machine: the ONE table of allowed state changes.

Every state change anywhere in Recoup goes through :func:`check_transition` (the store calls it
inside the same transaction that writes the change and its event). A change that is not in
:data:`TRANSITIONS` raises :class:`bot.errors.InvalidTransitionError` and writes nothing.

::

    awaiting_approval ─► queued ─► running ─► submitting ─► submitted ─► approved ─► refunded
            │              ▲  │        │  ▲        │            │  ▲          │
            │              │  │        │  └────────┘ (reconcile)│  │          ▼
            ▼              │  ▼        ▼                        ▼  │      needs_human
    canceled_by_operator ◄─┴─ needs_human / failed        counter_offer / rejected
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from bot.errors import InvalidTransitionError


class CaseState(StrEnum):
    """Where a case stands. Values are stored in the database; never rename one."""

    AWAITING_APPROVAL = "awaiting_approval"
    """Created while `approve_first` is on; waits for an operator's approval before it runs."""

    QUEUED = "queued"
    """Ready to run as soon as `next_attempt_at` has passed and its account is free."""

    RUNNING = "running"
    """Claimed by a worker (under a lease); reading the order, nothing irreversible done yet."""

    SUBMITTING = "submitting"
    """The submit intent is written: the irreversible click may have happened. After a crash the
    case is reconciled by reading the portal, never by clicking again blindly."""

    SUBMITTED = "submitted"
    """The portal confirmed the request (or it was found to exist); outcome tracking runs."""

    APPROVED = "approved"
    """The seller or portal agreed (cancel done / refund granted); waiting for the money."""

    COUNTER_OFFER = "counter_offer"
    """The seller proposed something else (e.g. a partial refund); answer by policy or a human."""

    REJECTED = "rejected"
    """Final. The seller or portal refused the request."""

    REFUNDED = "refunded"
    """Final. The money came back."""

    NEEDS_HUMAN = "needs_human"
    """Parked: a challenge, a rejected login, a changed page or an unconfirmed submit."""

    FAILED = "failed"
    """Final. Not eligible, retry budget spent, or given up for another definitive reason."""

    CANCELED_BY_OPERATOR = "canceled_by_operator"
    """Final. An operator withdrew the case before anything was submitted."""


S = CaseState

TRANSITIONS: MappingProxyType[CaseState, frozenset[CaseState]] = MappingProxyType(
    {
        S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.CANCELED_BY_OPERATOR}),
        S.QUEUED: frozenset({S.RUNNING, S.NEEDS_HUMAN, S.FAILED, S.CANCELED_BY_OPERATOR}),
        S.RUNNING: frozenset({S.QUEUED, S.SUBMITTING, S.SUBMITTED, S.NEEDS_HUMAN, S.FAILED}),
        # From `submitting` the case only moves on after reading the portal (reconcile):
        # request found → submitted; provably absent → running (submit again); else a human.
        S.SUBMITTING: frozenset({S.SUBMITTED, S.RUNNING, S.NEEDS_HUMAN, S.FAILED}),
        S.SUBMITTED: frozenset({S.APPROVED, S.REJECTED, S.REFUNDED, S.COUNTER_OFFER, S.NEEDS_HUMAN}),
        S.COUNTER_OFFER: frozenset({S.SUBMITTED, S.APPROVED, S.REJECTED, S.REFUNDED, S.NEEDS_HUMAN}),
        S.APPROVED: frozenset({S.REFUNDED, S.NEEDS_HUMAN}),
        S.NEEDS_HUMAN: frozenset(
            {
                S.QUEUED,
                S.SUBMITTED,
                S.APPROVED,
                S.REJECTED,
                S.REFUNDED,
                S.FAILED,
                S.CANCELED_BY_OPERATOR,
            }
        ),
        S.REJECTED: frozenset(),
        S.REFUNDED: frozenset(),
        S.FAILED: frozenset(),
        S.CANCELED_BY_OPERATOR: frozenset(),
    }
)
"""For each state, the states it may move to. The only source of truth for state changes."""

FINAL_STATES: frozenset[CaseState] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
"""States a case never leaves: rejected, refunded, failed, canceled_by_operator."""

INITIAL_STATES: frozenset[CaseState] = frozenset({S.AWAITING_APPROVAL, S.QUEUED})
"""States a new case may be created in."""

LEASED_STATES: frozenset[CaseState] = frozenset({S.RUNNING, S.SUBMITTING})
"""States in which a worker holds (or held, before a crash) the case's lease."""


def is_final(state: CaseState) -> bool:
    """True when no transition leaves `state`."""
    return state in FINAL_STATES


def allowed_targets(state: CaseState) -> frozenset[CaseState]:
    """The states `state` may move to (empty for final states)."""
    return TRANSITIONS[state]


def check_transition(from_state: CaseState, to_state: CaseState) -> None:
    """Return quietly when `from_state → to_state` is in the table.

    Raises :class:`InvalidTransitionError` (with `from_state`/`to_state` in its context) for
    anything else, including staying in the same state and leaving a final state.
    """
    if to_state not in TRANSITIONS[from_state]:
        raise InvalidTransitionError(
            f"a case may not go from {from_state.value} to {to_state.value}",
            from_state=from_state.value,
            to_state=to_state.value,
        )
