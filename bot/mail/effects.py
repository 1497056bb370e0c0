"""What a mail signal does to the open cases of its order: the ONE table of mail outcomes.

Every portal step mail about an order with open cases requests a status check on each of them
(``cases.check_due_at = now`` and a ``status_check_requested`` event): the status poller then
reads the portal, which is the authority. Only the signals in :data:`OUTCOMES` also move a case,
and only a case of the listed kind, and only when the state table (`bot.states`) allows that
move from the case's current state; otherwise the check alone is requested.

``closed_needs_check`` ("Your order <id> is closed") is deliberately absent from OUTCOMES: the
mail does not say whether the order was cancelled, refunded or completed, so it only ever asks
for a status check, never an approval. Login-code mail and unknown kinds have no effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from bot.mail.classify import LOGIN_CODE, MailSignal
from bot.models import CaseKind
from bot.states import CaseState
from bot.store import CaseEffect, EffectPlanner, OpenCase

CLOSED = "closed_needs_check"
"""The ambiguous closed mail: a status check, never an outcome."""

OUTCOMES: MappingProxyType[tuple[str, CaseKind], CaseState] = MappingProxyType(
    {
        # cancellation: the seller agreed, or the order was cancelled at once
        ("cancel_approved", CaseKind.CANCEL): CaseState.APPROVED,
        ("order_canceled", CaseKind.CANCEL): CaseState.APPROVED,
        ("cancel_rejected", CaseKind.CANCEL): CaseState.REJECTED,
        # return / refund
        ("refund_approved", CaseKind.REFUND): CaseState.REFUNDED,
        ("refund_rejected", CaseKind.REFUND): CaseState.REJECTED,
        ("counter_offer", CaseKind.REFUND): CaseState.COUNTER_OFFER,
    }
)
"""(signal kind, case kind) → the state an unambiguous outcome mail moves the case to."""

NO_EFFECT: frozenset[str] = frozenset({LOGIN_CODE})
"""Signal kinds that never touch a case (the login flow reads code mails itself)."""

assert CLOSED not in {kind for kind, _ in OUTCOMES}, "the closed mail must never be an outcome"


def outcome_for(kind: str, case_kind: CaseKind) -> CaseState | None:
    """The state `kind` moves a `case_kind` case to, or None (check only)."""
    return OUTCOMES.get((kind, case_kind))


def effects_for(signal: MailSignal, cases: Sequence[OpenCase]) -> list[CaseEffect]:
    """The effects of `signal` on `cases` (the open cases of its orders): a check for each, plus
    the OUTCOMES move. The store makes a move only where the state table allows it from the
    case's current state (checked again inside the transaction); a refused move is noted in the
    check event's detail as ``move_refused``."""
    if signal.kind in NO_EFFECT:
        return []
    wanted = set(signal.order_ids)
    out: list[CaseEffect] = []
    for case in cases:
        if case.order_id not in wanted:
            continue
        out.append(
            CaseEffect(case_id=case.id, request_check=True, move_to=outcome_for(signal.kind, case.kind))
        )
    return out


def planner(signal: MailSignal) -> EffectPlanner | None:
    """An :data:`~bot.store.EffectPlanner` for the store's per-message transaction, or None when
    the signal has no effect at all."""
    if signal.kind in NO_EFFECT:
        return None

    def plan(cases: Sequence[OpenCase]) -> Sequence[CaseEffect]:
        return effects_for(signal, cases)

    return plan
