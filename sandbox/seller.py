"""Order transitions: buyer requests, seller and platform decisions, and their mails.

Buyer-side functions return an outcome word the routes turn into pages and submission counts:
`accepted`, `duplicate` (a request exists already; nothing changed) or `not_allowed` (the status
does not allow it; nothing changed). Seller/platform decisions are scheduled `Event`s; an event
whose request has moved on meanwhile does nothing.
"""

from __future__ import annotations

from decimal import Decimal

from sandbox.i18n import money
from sandbox.model import ACTIVE_REFUND, Event, OrderState, RefundRequest
from sandbox.state import PortalState, new_cancel, new_request

STATUS_STEP = {
    "awaiting_shipment": "ready_to_ship",
    "awaiting_delivery": "order_shipped",
    "awaiting_feedback": "delivered",
    "completed": "how_did_it_go",
}


def _money(order: OrderState, value: Decimal) -> str:
    """An amount of `order` as the portal prints it (English form, as in the mails' amounts)."""
    return money(value, order.currency, "en_US")


def set_status(state: PortalState, order: OrderState, status: str, *, mail: bool = True) -> None:
    """Move an order to `status`, record it, and send the step mail (and the closed mail)."""
    if order.status == status:
        return
    now = state.now()
    order.status = status
    order.history.append((now.isoformat(), status))
    if status in ("awaiting_feedback", "completed") and order.received_at is None:
        order.received_at = now
    acc = state.account(order.account)
    if not mail or acc is None:
        return
    if status in STATUS_STEP:
        state.notices.order_step(acc, order, STATUS_STEP[status], now)
    if status in ("canceled", "closed"):
        state.notices.closed(acc, order, now)


def initial_requests(state: PortalState, order: OrderState) -> None:
    """Scenario orders that start in `cancel_requested` / `in_dispute` get their open request."""
    now = state.now()
    if order.status == "cancel_requested":
        order.cancel = new_cancel("not_shipped", "", now)
        _schedule_cancel(state, order)
    elif order.status == "in_dispute":
        line = order.items[0]
        req = new_request(
            order,
            line.item_id,
            refund_type="refund_only",
            reason="not_received",
            amount=line.paid,
            description="Item never arrived.",
            evidence=[],
            now=now,
        )
        req.status_before = "awaiting_delivery"
        order.refunds[line.item_id] = req
        _schedule_refund(state, order, line.item_id)


def _schedule_cancel(state: PortalState, order: OrderState) -> None:
    if order.seller.cancel != "no_answer":
        state.schedule(order.id, "cancel_answer", order.seller.cancel_delay_s)
    state.schedule(order.id, "cancel_auto", state.settings.cancel_auto_approve_hours * 3600)


def _schedule_refund(state: PortalState, order: OrderState, item_id: int) -> None:
    if order.seller.refund != "no_answer":
        state.schedule(order.id, "refund_answer", order.seller.refund_delay_s, item_id)
    state.schedule(order.id, "refund_auto", state.settings.refund_auto_accept_hours * 3600, item_id)


# ---- buyer actions ---------------------------------------------------------------------------
def cancel(state: PortalState, order: OrderState, reason: str, comment: str) -> str:
    """Cancel at once (unpaid) or request cancellation (awaiting shipment)."""
    acc = state.account(order.account)
    now = state.now()
    if order.status in ("awaiting_payment", "payment_verifying"):
        order.cancel = new_cancel(reason, comment, now)
        order.cancel.result = "approved"
        if acc:
            state.notices.order_step(acc, order, "order_canceled", now)
        set_status(state, order, "canceled")
        return "accepted"
    if order.status == "awaiting_shipment":
        order.cancel = new_cancel(reason, comment, now)
        set_status(state, order, "cancel_requested", mail=False)
        if acc:
            state.notices.order_step(acc, order, "cancel_requested", now)
        _schedule_cancel(state, order)
        return "accepted"
    if order.cancel is not None and order.status in ("cancel_requested", "canceled"):
        return "duplicate"
    return "not_allowed"


def submit_refund(
    state: PortalState,
    order: OrderState,
    item_id: int,
    *,
    refund_type: str,
    reason: str,
    amount: Decimal,
    description: str,
    evidence: list[str],
) -> str:
    """Open a return/refund request on one line (the caller validated the form)."""
    if item_id in order.refunds:
        return "duplicate"
    if not state.refund_allowed(order, item_id):
        return "not_allowed"
    now = state.now()
    req = new_request(
        order,
        item_id,
        refund_type=refund_type,
        reason=reason,
        amount=amount,
        description=description,
        evidence=evidence,
        now=now,
    )
    order.refunds[item_id] = req
    for up_id in evidence:
        if up_id in state.uploads:
            state.uploads[up_id].draft = False
    set_status(state, order, "in_dispute", mail=False)
    acc = state.account(order.account)
    if acc:
        state.notices.order_step(acc, order, "refund_requested", now)
    _schedule_refund(state, order, item_id)
    return "accepted"


def respond(
    state: PortalState, order: OrderState, item_id: int, action: str, message: str, evidence: list[str]
) -> str:
    """Buyer's answer to a counter-proposal: `accept` it or `disagree` (escalates)."""
    req = order.refunds.get(item_id)
    if req is None:
        return "not_allowed"
    if req.status != "waiting_buyer":
        return "duplicate" if req.status in ("escalated", "refunded") else "not_allowed"
    now = state.now()
    acc = state.account(order.account)
    if action == "accept":
        req.messages.append({"from": "buyer", "action": "accept", "at": now.isoformat()})
        if acc:
            state.notices.order_step(acc, order, "offer_accepted", now)
        _refunded(state, order, req, req.counter_amount or req.amount)
        return "accepted"
    req.messages.append(
        {
            "from": "buyer",
            "action": "disagree",
            "message": message,
            "evidence": list(evidence),
            "at": now.isoformat(),
        }
    )
    for up_id in evidence:
        if up_id in state.uploads:
            state.uploads[up_id].draft = False
    _escalate(state, order, req)
    return "accepted"


# ---- seller / platform decisions ---------------------------------------------------------------
def handle_event(state: PortalState, event: Event) -> None:
    """Apply one due decision if its request still waits for it."""
    order = state.orders.get(event.order_id)
    if order is None:
        return
    acc = state.account(order.account)
    now = state.now()
    if event.kind in ("cancel_answer", "cancel_auto"):
        if order.status != "cancel_requested" or order.cancel is None:
            return
        verdict = order.seller.cancel if event.kind == "cancel_answer" else "approve"
        if verdict == "reject":
            order.cancel.result = "rejected"
            set_status(state, order, "awaiting_shipment", mail=False)
            if acc:
                state.notices.order_step(acc, order, "cancel_rejected", now)
        else:
            order.cancel.result = "approved"
            if acc:
                state.notices.order_step(acc, order, "cancel_approved", now)
            set_status(state, order, "canceled")
        return
    req = order.refunds.get(event.item_id)
    if req is None:
        return
    if event.kind == "refund_auto" and req.status == "waiting_seller":
        _refunded(state, order, req, req.amount)
    elif event.kind == "refund_answer" and req.status == "waiting_seller":
        behaviour = order.seller.refund
        if behaviour == "accept":
            _refunded(state, order, req, req.amount)
        elif behaviour == "reject":
            _finish(state, order, req, "rejected")
            if acc:
                state.notices.order_step(acc, order, "refund_rejected", now)
        elif behaviour == "counter":
            req.status = "waiting_buyer"
            req.updated_at = now
            req.counter_amount = (req.amount * order.seller.counter_share).quantize(Decimal("0.01"))
            req.messages.append(
                {
                    "from": "seller",
                    "action": "counter",
                    "amount": f"{req.counter_amount:.2f}",
                    "at": now.isoformat(),
                }
            )
            if acc:
                state.notices.order_step(
                    acc, order, "refund_counter", now, amount=_money(order, req.counter_amount)
                )
        elif behaviour == "escalate":
            req.messages.append({"from": "seller", "action": "reject", "at": now.isoformat()})
            _escalate(state, order, req)
    elif event.kind == "platform_decide" and req.status == "escalated":
        if order.seller.platform == "refund":
            _refunded(state, order, req, req.amount)
        else:
            _finish(state, order, req, "rejected")
            if acc:
                state.notices.order_step(acc, order, "refund_rejected", now)


def _escalate(state: PortalState, order: OrderState, req: RefundRequest) -> None:
    req.status = "escalated"
    req.updated_at = state.now()
    acc = state.account(order.account)
    if acc:
        state.notices.order_step(acc, order, "refund_escalated", state.now())
    state.schedule(order.id, "platform_decide", state.settings.platform_decision_hours * 3600, req.item_id)


def _refunded(state: PortalState, order: OrderState, req: RefundRequest, amount: Decimal) -> None:
    req.refunded_amount = amount
    acc = state.account(order.account)
    if acc:
        state.notices.order_step(acc, order, "refund_complete", state.now(), amount=_money(order, amount))
    _finish(state, order, req, "refunded")


def _finish(state: PortalState, order: OrderState, req: RefundRequest, status: str) -> None:
    """End a request; the order leaves `in_dispute` once no request on it is active."""
    req.status = status
    req.updated_at = state.now()
    if any(r.status in ACTIVE_REFUND for r in order.refunds.values()):
        return
    all_refunded = all(
        (r := order.refunds.get(i.item_id)) is not None
        and r.status == "refunded"
        and (r.refunded_amount or 0) >= i.paid
        for i in order.items
    )
    if all_refunded:
        set_status(state, order, "closed")
    elif order.status == "in_dispute":
        set_status(state, order, req.status_before, mail=False)
