"""What a status seen on the portal means for a case: one pure function, one table each.

`judge(case, seen)` never touches the portal or the store; the engine applies its verdict
through the state table (bot/states.py), so an impossible move is refused there.

Cancel cases (`submitted` after "Cancel order" / "Request order cancellation"):
  order canceled or closed            → approved   (the cancellation happened; terminal for a cancel)
  still "cancellation requested"      → no change  (the seller has 48 h)
  back to awaiting shipment, or shipped → rejected (the seller refused, or shipped anyway)
Refund cases (`submitted`, `counter_offer`, `approved`):
  refund complete                     → refunded
  request rejected                    → rejected
  waiting for the buyer's response    → counter_offer (answered by the offer policy)
  request closed without a refund     → needs_human (withdrawn or expired: a person looks)
  waiting for seller / escalated      → no change
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Case, CaseKind, OrderStatus, RefundStatus
from bot.states import TRACKED_STATES, CaseState
from flows.results import OrderState


@dataclass(frozen=True)
class Verdict:
    """The state the case should move to (None: leave it) and why, in words for the report."""

    to_state: CaseState | None
    why: str


_CANCEL: dict[OrderStatus, tuple[CaseState | None, str]] = {
    OrderStatus.CANCELED: (CaseState.APPROVED, "the order is canceled"),
    OrderStatus.CLOSED: (CaseState.APPROVED, "the order is closed"),
    OrderStatus.CANCEL_REQUESTED: (None, "the seller has not answered yet"),
    OrderStatus.AWAITING_SHIPMENT: (CaseState.REJECTED, "the seller refused the cancellation"),
    OrderStatus.AWAITING_DELIVERY: (CaseState.REJECTED, "the seller shipped the order instead"),
}

_REFUND: dict[RefundStatus, tuple[CaseState | None, str]] = {
    RefundStatus.REFUNDED: (CaseState.REFUNDED, "the refund is complete"),
    RefundStatus.REJECTED: (CaseState.REJECTED, "the request was rejected"),
    RefundStatus.WAITING_BUYER: (CaseState.COUNTER_OFFER, "the seller made a counter-proposal"),
    RefundStatus.CLOSED: (CaseState.NEEDS_HUMAN, "the request was closed without a refund"),
    RefundStatus.WAITING_SELLER: (None, "waiting for the seller"),
    RefundStatus.ESCALATED: (None, "escalated: waiting for the platform's decision"),
}


def judge(case: Case, seen: OrderState) -> Verdict:
    """The verdict for `case` given what the portal shows. Unknown texts change nothing."""
    if case.state not in TRACKED_STATES:
        return Verdict(None, f"case is {case.state.value}: not tracked")
    if case.kind is CaseKind.CANCEL:
        if case.state is not CaseState.SUBMITTED:
            return Verdict(None, "cancellation already decided")
        to_state, why = _CANCEL.get(seen.status, (None, f"order shows '{seen.status_text}'"))
        return Verdict(to_state, why)
    refund = seen.refund_status or RefundStatus.NONE
    to_state, why = _REFUND.get(refund, (None, f"refund page shows '{seen.refund_text or ''}'"))
    if to_state is CaseState.COUNTER_OFFER and case.state is CaseState.APPROVED:
        return Verdict(None, "an offer was accepted already")
    return Verdict(to_state, why)
