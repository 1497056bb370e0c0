"""The portal's whole server-side state, built from a scenario and reset to it on demand.

All mutation happens on the server's event loop (async handlers), so no locking is needed.
Seller decisions are `Event`s processed by `process_due()` whenever the state is touched or the
clock is advanced. Submissions are counted per order and kind: `accepted` state changes, refused
`duplicates`, `rejected_by_fault` (5xx injected before any change) and `invalid` (form refused);
refund and answer POSTs are also counted per item line (`by_item`), since each line of an order
takes its own request.
"""

from __future__ import annotations

import heapq
import random
import secrets
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyotp

from sandbox.clock import SandboxClock
from sandbox.model import (
    AccountState,
    CancelRequest,
    Event,
    ItemLine,
    OrderState,
    PendingLogin,
    RefundRequest,
    Session,
    Upload,
)
from sandbox.notices import Notices
from sandbox.scenario import Scenario
from sandbox.settings import Faults, SandboxSettings

TABS: dict[str, tuple[str, ...]] = {
    "all": (),
    "to_pay": ("awaiting_payment", "payment_verifying"),
    "to_ship": ("awaiting_shipment", "cancel_requested"),
    "shipped": ("awaiting_delivery",),
    "processed": ("awaiting_feedback", "completed", "in_dispute", "canceled", "closed"),
}
SUBMIT_OUTCOMES = ("accepted", "duplicates", "rejected_by_fault", "invalid", "blocked")


class PortalState:
    """Accounts, orders, sessions, uploads, pending seller events and submission counts."""

    def __init__(
        self, scenario: Scenario, settings: SandboxSettings, clock: SandboxClock, notices: Notices
    ) -> None:
        self.scenario = scenario
        self.settings = settings
        self.clock = clock
        self.notices = notices
        self.faults = settings.faults.model_copy()
        self.rng = random.Random(self.faults.seed)
        self.reset()

    # ---- set-up ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything and rebuild from the scenario (clock keeps running)."""
        from sandbox import seller

        now = self.clock.now()
        self.accounts: dict[str, AccountState] = {}
        self.orders: dict[str, OrderState] = {}
        self.sessions: dict[str, Session] = {}
        self.pending: dict[str, PendingLogin] = {}
        self.uploads: dict[str, Upload] = {}
        self.events: list[Event] = []
        self.slide_attempts = 0
        self._seq = 0
        self.submissions: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: dict.fromkeys(SUBMIT_OUTCOMES, 0))
        )
        self.item_submissions: dict[str, dict[int, dict[str, dict[str, int]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(lambda: dict.fromkeys(SUBMIT_OUTCOMES, 0)))
        )
        for spec in self.scenario.accounts:
            acc = AccountState(spec=spec, challenge_form=spec.challenge_form)
            self.accounts[spec.email.lower()] = acc
            for o in spec.orders:
                order = OrderState(
                    id=o.id,
                    account=spec.email,
                    status=o.status,
                    placed_at=now - timedelta(days=o.placed_days_ago),
                    received_at=(
                        now - timedelta(days=o.received_days_ago) if o.received_days_ago is not None else None
                    ),
                    store=o.store,
                    items=[
                        ItemLine(n + 1, i.name, i.sku, i.price, i.quantity) for n, i in enumerate(o.items)
                    ],
                    shipping=o.shipping,
                    currency=o.currency or spec.currency,
                    seller=o.seller.model_copy(),
                    refund_first_modal=o.refund_first_modal,
                )
                self.orders[order.id] = order
                seller.initial_requests(self, order)

    # ---- time -----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def schedule(self, order_id: str, kind: str, delay_s: float, item_id: int = 0) -> None:
        """Queue a seller/platform decision `delay_s` sandbox seconds from now."""
        self._seq += 1
        heapq.heappush(
            self.events, Event(self.now() + timedelta(seconds=delay_s), self._seq, order_id, kind, item_id)
        )

    def process_due(self) -> int:
        """Apply every event that is due by the sandbox clock; returns how many ran."""
        from sandbox import seller

        ran = 0
        now = self.now()
        while self.events and self.events[0].due_at <= now:
            event = heapq.heappop(self.events)
            seller.handle_event(self, event)
            ran += 1
        return ran

    # ---- accounts, login, sessions ---------------------------------------------------------
    def account(self, email: str) -> AccountState | None:
        return self.accounts.get(email.strip().lower())

    def is_locked(self, acc: AccountState) -> bool:
        return acc.locked_until is not None and self.now() < acc.locked_until

    def login_failed(self, acc: AccountState) -> None:
        """Count a wrong password or code; locks the account after `lockout_after` in a row."""
        acc.failures += 1
        if acc.failures >= self.settings.lockout_after:
            acc.locked_until = self.now() + timedelta(seconds=self.settings.lockout_s)
            acc.failures = 0

    def needs_code(self, acc: AccountState, device: str | None) -> bool:
        if acc.spec.totp_secret:
            return True
        rule = acc.spec.login_code
        return rule == "always" or (
            rule == "new_device" and (device is None or device not in acc.known_devices)
        )

    def start_pending(self, acc: AccountState, return_url: str) -> PendingLogin:
        """Second step of a login; mails a fresh code unless the account uses TOTP."""
        code = None if acc.spec.totp_secret else f"{secrets.randbelow(10**6):06d}"
        pend = PendingLogin(secrets.token_urlsafe(16), acc.email, code, return_url, self.now())
        self.pending[pend.token] = pend
        if code is not None:
            self.notices.login_code(acc, code, self.now())
        return pend

    def code_ok(self, acc: AccountState, pend: PendingLogin, code: str) -> bool:
        code = code.strip()
        if acc.spec.totp_secret:
            return pyotp.TOTP(acc.spec.totp_secret).verify(code, valid_window=1)
        return pend.code is not None and secrets.compare_digest(pend.code, code)

    def create_session(self, acc: AccountState) -> Session:
        """A new signed-in session; raises the account's login challenge if its rule says so."""
        now = self.now()
        sess = Session(
            secrets.token_urlsafe(24),
            acc.email,
            now,
            now + timedelta(seconds=self.settings.session_lifetime_s),
        )
        self.sessions[sess.token] = sess
        acc.failures = 0
        if acc.spec.challenge in ("login", "always"):
            self.raise_challenge(acc, acc.spec.challenge_form)
        return sess

    def session(self, token: str | None) -> Session | None:
        """The live session for a cookie value, or None (unknown, expired or fault-expired)."""
        if not token:
            return None
        sess = self.sessions.get(token)
        if sess is None:
            return None
        limit = self.faults.expire_session_after
        if self.now() >= sess.expires_at or (limit is not None and sess.requests >= limit):
            del self.sessions[token]
            return None
        sess.requests += 1
        return sess

    def expire_sessions(self, email: str | None = None) -> int:
        """Drop the sessions of one account (or all); returns how many."""
        doomed = [k for k, s in self.sessions.items() if email is None or s.email.lower() == email.lower()]
        for k in doomed:
            del self.sessions[k]
        return len(doomed)

    def raise_challenge(self, acc: AccountState, form: str) -> None:
        acc.challenge_pending = True
        acc.challenge_form = form
        acc.challenges_shown += 1

    # ---- orders ----------------------------------------------------------------------------
    def orders_of(self, email: str, tab: str = "all", keyword: str = "") -> list[OrderState]:
        """The account's orders, newest first, filtered by tab and keyword (id, product, store)."""
        wanted = TABS.get(tab, ())
        kw = keyword.strip().lower()
        out = [
            o
            for o in self.orders.values()
            if o.account.lower() == email.lower()
            and (not wanted or o.status in wanted)
            and (not kw or kw in o.id or kw in o.store.lower() or any(kw in i.name.lower() for i in o.items))
        ]
        return sorted(out, key=lambda o: o.placed_at, reverse=True)

    def order_of(self, email: str, order_id: str) -> OrderState | None:
        order = self.orders.get(order_id)
        return order if order and order.account.lower() == email.lower() else None

    def refund_allowed(self, order: OrderState, item_id: int) -> bool:
        """May the buyer open a new return/refund request on this line now?

        Per line, like the real site: a request on one line does not block the others; while
        the order is `in_dispute` over another line, the status before the dispute decides."""
        if order.item(item_id) is None or item_id in order.refunds:
            return False
        status = status_before_dispute(order)
        if status == "awaiting_delivery":
            return True
        if status in ("awaiting_feedback", "completed"):
            if order.received_at is None:
                return True
            return self.now() - order.received_at <= timedelta(days=self.settings.refund_window_days)
        return False

    # ---- submissions -----------------------------------------------------------------------
    def count(self, order_id: str, kind: str, outcome: str, item_id: int | None = None) -> None:
        """Count one submit POST (`outcome` one of SUBMIT_OUTCOMES), also per item line when given."""
        self.submissions[order_id][kind][outcome] += 1
        if item_id is not None:
            self.item_submissions[order_id][item_id][kind][outcome] += 1

    def submission_summary(self, order_id: str) -> dict[str, Any]:
        by_kind = {k: dict(v) for k, v in self.submissions.get(order_id, {}).items()}
        totals = dict.fromkeys(SUBMIT_OUTCOMES, 0)
        for counts in by_kind.values():
            for k, v in counts.items():
                totals[k] += v
        by_item: dict[str, dict[str, Any]] = {}
        for item_id, kinds in sorted(self.item_submissions.get(order_id, {}).items()):
            item_kinds = {k: dict(v) for k, v in kinds.items()}
            by_item[str(item_id)] = {
                "count": sum(v["accepted"] + v["duplicates"] for v in item_kinds.values()),
                "accepted": sum(v["accepted"] for v in item_kinds.values()),
                "by_kind": item_kinds,
            }
        return {
            "order_id": order_id,
            "count": totals["accepted"] + totals["duplicates"],
            **totals,
            "by_kind": by_kind,
            "by_item": by_item,
        }

    # ---- uploads ---------------------------------------------------------------------------
    def drafts(self, email: str, order_id: str, item_id: int, purpose: str) -> list[Upload]:
        return [
            u
            for u in self.uploads.values()
            if u.draft
            and u.email.lower() == email.lower()
            and u.order_id == order_id
            and u.item_id == item_id
            and u.purpose == purpose
        ]

    def add_upload(
        self,
        email: str,
        order_id: str,
        item_id: int,
        purpose: str,
        filename: str,
        content_type: str,
        data: bytes,
    ) -> Upload:
        up = Upload(secrets.token_hex(8), email, order_id, item_id, purpose, filename, content_type, data)
        self.uploads[up.id] = up
        return up

    # ---- admin -----------------------------------------------------------------------------
    def set_faults(self, changes: dict[str, Any]) -> Faults:
        """Merge `changes` into the active faults (validated); returns the new faults."""
        merged = Faults.model_validate({**self.faults.model_dump(), **changes})
        if "seed" in changes:
            self.rng = random.Random(merged.seed)
        self.faults = merged
        return merged

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of accounts and orders (the admin `state` call)."""

        def money(v: Decimal | None) -> str | None:
            return None if v is None else f"{v:.2f}"

        return {
            "clock": self.now().isoformat(),
            "pending_events": len(self.events),
            "slide_attempts": self.slide_attempts,
            "accounts": [
                {
                    "email": a.email,
                    "locale": a.locale,
                    "locked": self.is_locked(a),
                    "failures": a.failures,
                    "challenge_pending": a.challenge_pending,
                    "challenges_shown": a.challenges_shown,
                    "sessions": sum(1 for s in self.sessions.values() if s.email == a.email),
                }
                for a in self.accounts.values()
            ],
            "orders": {
                o.id: {
                    "account": o.account,
                    "status": o.status,
                    "total": money(o.total),
                    "placed_at": o.placed_at.isoformat(),
                    "received_at": o.received_at.isoformat() if o.received_at else None,
                    "cancel": None
                    if o.cancel is None
                    else {
                        "reason": o.cancel.reason,
                        "comment": o.cancel.comment,
                        "requested_at": o.cancel.requested_at.isoformat(),
                        "result": o.cancel.result,
                    },
                    "refunds": {
                        str(r.item_id): {
                            "status": r.status,
                            "refund_type": r.refund_type,
                            "reason": r.reason,
                            "amount": money(r.amount),
                            "counter_amount": money(r.counter_amount),
                            "refunded_amount": money(r.refunded_amount),
                            "description": r.description,
                            "evidence": [self.uploads[e].filename for e in r.evidence if e in self.uploads],
                            "messages": r.messages,
                        }
                        for r in o.refunds.values()
                    },
                    "items": [{"item_id": i.item_id, "name": i.name, "paid": money(i.paid)} for i in o.items],
                    "history": o.history,
                }
                for o in self.orders.values()
            },
        }


def status_before_dispute(order: OrderState) -> str:
    """The order's status, or, while it is `in_dispute` over some lines, the status it had before
    the first request (what a further line's request is judged by and what the order returns to)."""
    if order.status == "in_dispute" and order.refunds:
        first = min(order.refunds.values(), key=lambda r: r.created_at)
        return first.status_before
    return order.status


def new_request(
    order: OrderState,
    item_id: int,
    *,
    refund_type: str,
    reason: str,
    amount: Decimal,
    description: str,
    evidence: list[str],
    now: datetime,
) -> RefundRequest:
    """A fresh refund request in `waiting_seller`, remembering the order status to return to
    (for a further line of an order already in dispute: the status before that dispute)."""
    return RefundRequest(
        item_id=item_id,
        refund_type=refund_type,
        reason=reason,
        amount=amount,
        description=description,
        evidence=evidence,
        status="waiting_seller",
        created_at=now,
        updated_at=now,
        status_before=status_before_dispute(order),
    )


def new_cancel(reason: str, comment: str, now: datetime) -> CancelRequest:
    return CancelRequest(reason=reason, comment=comment, requested_at=now)
