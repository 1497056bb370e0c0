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

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from bot.errors import Action, InvalidTransitionError


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

CLAIMABLE_STATES: frozenset[CaseState] = frozenset({S.QUEUED, S.SUBMITTING})
"""States a worker may lease a case in: queued (→ running) or submitting (stays, to reconcile)."""

OPEN_STATES: frozenset[CaseState] = frozenset(
    {
        S.AWAITING_APPROVAL,
        S.QUEUED,
        S.RUNNING,
        S.SUBMITTING,
        S.SUBMITTED,
        S.COUNTER_OFFER,
        S.APPROVED,
        S.NEEDS_HUMAN,
    }
)
"""States shown by `recoup status` without arguments: every state that is not final."""

STATUS_CHECK_STATES: frozenset[CaseState] = frozenset({S.SUBMITTED, S.COUNTER_OFFER, S.APPROVED})
"""Open cases whose portal status the scheduler and the mail poller keep reading (the outcome,
or, for an approved refund, the money)."""

TRACKED_STATES = STATUS_CHECK_STATES
"""The same set under the name the outcome rules (:mod:`bot.outcomes`) use."""

SWEPT_STATES: frozenset[CaseState] = frozenset({S.SUBMITTED, S.COUNTER_OFFER})
"""States in which a case waits on the portal and its deadlines apply."""

OUTCOME_STATES: frozenset[CaseState] = frozenset({S.APPROVED, S.REJECTED, S.REFUNDED, S.COUNTER_OFFER})
"""Entering one of these stamps the case's `outcome_at`."""

ERROR_KEEPING_STATES: frozenset[CaseState] = frozenset({S.QUEUED, S.RUNNING, S.NEEDS_HUMAN, S.FAILED})
"""States in which `last_error` still says why the case waits or runs again (a retry, a
person, the end; a new attempt replaces it when it fails too). Entering any other state (the
request went in, an outcome came, the operator withdrew it) clears it, so no list shows an
error the case has moved past."""

FILING_STATES: frozenset[CaseState] = frozenset({S.QUEUED, S.RUNNING, S.SUBMITTING})
"""A case still being filed: nothing confirmed by the portal yet."""

STATE_LABELS: MappingProxyType[CaseState, str] = MappingProxyType(
    {
        S.AWAITING_APPROVAL: "waiting for an operator's approval",
        S.QUEUED: "queued to run",
        S.RUNNING: "running",
        S.SUBMITTING: "submit sent, not yet confirmed (reconciled by reading the portal)",
        S.SUBMITTED: "submitted, waiting for the portal's answer",
        S.APPROVED: "approved, waiting for the money",
        S.COUNTER_OFFER: "the seller proposed something else",
        S.REJECTED: "rejected",
        S.REFUNDED: "refunded",
        S.NEEDS_HUMAN: "needs a person",
        S.FAILED: "failed",
        S.CANCELED_BY_OPERATOR: "withdrawn by an operator",
    }
)
"""A short human label for each state (the case report shows it next to the state)."""


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


# ---- the one failure policy ------------------------------------------------------------------
@dataclass(frozen=True)
class Budgets:
    """A case's two retry budgets: how much of each was used BEFORE this attempt, and their sizes."""

    attempts: int
    max_attempts: int
    session_attempts: int
    max_session_attempts: int


@dataclass(frozen=True)
class FailureDecision:
    """What one failed attempt does to its case (see :func:`after_failure`)."""

    to_state: CaseState | None
    """The state the case moves to; None when it stays where it is. Always allowed by
    :data:`TRANSITIONS` when not None."""
    counted_on: Literal["attempts", "session"] | None
    """The budget this attempt counts on (None: on neither, e.g. a configuration problem)."""
    used: int
    """The count on that budget after this attempt (0 when counted on neither)."""
    retry: bool
    """Schedule another attempt after a backoff (sets `next_attempt_at`)."""
    exhausted: bool
    """This attempt spent its budget: no retry; the case fails or a human decides."""
    stop: bool = False
    """Stop at once and write nothing (the lease is lost): no attempt, no state change."""


def after_failure(state: CaseState, action: Action, budgets: Budgets) -> FailureDecision:
    """THE failure policy: turn a failed attempt (the case's current state, the error's action and
    its budgets) into what happens next. Pure; the store applies the result in the same
    transaction that records the attempt.

    * STOP (lease lost): nothing is written; the caller stops work on the case.
    * RETRY / RELOGIN count on the attempt / session budget. With budget left the case goes back
      to `queued` with a backoff; spent, it fails. In `submitting` the click may have landed: the
      case stays there for reconciliation and goes to a human (never `failed`) when spent.
    * RECONCILE (submit unconfirmed) counts on the attempt budget; the case stays (in
      `submitting` to be reconciled), no retry is scheduled; spent, a human decides.
    * NEEDS_HUMAN counts on the attempt budget and parks the case in `needs_human`.
    * FIX_CONFIG counts on no budget (the case is not at fault) and parks it in `needs_human`.
    * GIVE_UP counts on the attempt budget and fails the case (`needs_human` from `submitting`).

    Only a leased case (`running`, `submitting`) moves; from any other state the budgets are
    counted and the case stays where it is. A target the state table forbids also leaves it.
    """
    if action is Action.STOP:
        return FailureDecision(None, None, 0, retry=False, exhausted=False, stop=True)
    counted_on: Literal["attempts", "session"] | None
    if action is Action.FIX_CONFIG:
        counted_on, used, exhausted = None, 0, False
    elif action is Action.RELOGIN:
        counted_on, used = "session", budgets.session_attempts + 1
        exhausted = used >= budgets.max_session_attempts
    else:
        counted_on, used = "attempts", budgets.attempts + 1
        exhausted = action in (Action.RETRY, Action.RECONCILE) and used >= budgets.max_attempts
    retry = action in (Action.RETRY, Action.RELOGIN) and not exhausted
    submitting = state is S.SUBMITTING
    target: CaseState | None
    if action is Action.RECONCILE or (submitting and action in (Action.RETRY, Action.RELOGIN)):
        target = S.NEEDS_HUMAN if exhausted else None
    elif action in (Action.RETRY, Action.RELOGIN):
        target = S.FAILED if exhausted else S.QUEUED
    elif action in (Action.NEEDS_HUMAN, Action.FIX_CONFIG):
        target = S.NEEDS_HUMAN
    else:  # GIVE_UP
        target = S.NEEDS_HUMAN if submitting else S.FAILED
    if state not in LEASED_STATES or (target is not None and target not in TRANSITIONS[state]):
        target = None
    return FailureDecision(target, counted_on, used, retry=retry, exhausted=exhausted)
