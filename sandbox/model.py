"""The portal's live records: orders, item lines, requests, accounts, sessions, uploads.

Plain dataclasses mutated only by `PortalState` and `seller` on the server's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sandbox.scenario import Account, SellerBehaviour

ACTIVE_REFUND = ("waiting_seller", "waiting_buyer", "escalated")


@dataclass
class ItemLine:
    """One item line; `paid` is what a refund on it may reach at most."""

    item_id: int
    name: str
    sku: str
    price: Decimal
    quantity: int

    @property
    def paid(self) -> Decimal:
        return self.price * self.quantity


@dataclass
class CancelRequest:
    """A cancellation the buyer asked for."""

    reason: str
    comment: str
    requested_at: datetime
    result: str | None = None  # approved | rejected


@dataclass
class RefundRequest:
    """A return/refund request on one item line, and where the dispute stands."""

    item_id: int
    refund_type: str
    reason: str
    amount: Decimal
    description: str
    evidence: list[str]
    status: str  # waiting_seller | waiting_buyer | escalated | refunded | rejected | closed
    created_at: datetime
    updated_at: datetime
    status_before: str
    counter_amount: Decimal | None = None
    refunded_amount: Decimal | None = None
    messages: list[dict[str, object]] = field(default_factory=list)


@dataclass
class OrderState:
    """An order as the portal holds it now."""

    id: str
    account: str
    status: str
    placed_at: datetime
    received_at: datetime | None
    store: str
    items: list[ItemLine]
    shipping: Decimal
    currency: str
    seller: SellerBehaviour
    refund_first_modal: bool
    cancel: CancelRequest | None = None
    refunds: dict[int, RefundRequest] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((i.paid for i in self.items), Decimal("0")) + self.shipping

    def item(self, item_id: int) -> ItemLine | None:
        return next((i for i in self.items if i.item_id == item_id), None)

    def active_refund(self) -> RefundRequest | None:
        return next((r for r in self.refunds.values() if r.status in ACTIVE_REFUND), None)


@dataclass
class AccountState:
    """Login bookkeeping of one account."""

    spec: Account
    failures: int = 0
    locked_until: datetime | None = None
    known_devices: set[str] = field(default_factory=set)
    challenge_pending: bool = False
    challenge_form: str = "dialog"
    challenges_shown: int = 0

    @property
    def email(self) -> str:
        return self.spec.email

    @property
    def locale(self) -> str:
        return self.spec.locale


@dataclass
class Session:
    """A signed-in browser (cookie `sbx_session`)."""

    token: str
    email: str
    created_at: datetime
    expires_at: datetime
    requests: int = 0
    orders_challenged: bool = False


@dataclass
class PendingLogin:
    """Password accepted, second factor outstanding (cookie `sbx_pending`)."""

    token: str
    email: str
    code: str | None
    return_url: str
    created_at: datetime


@dataclass
class Upload:
    """An evidence file the server accepted; `draft` until a submit uses it."""

    id: str
    email: str
    order_id: str
    item_id: int
    purpose: str  # refund | respond
    filename: str
    content_type: str
    data: bytes
    draft: bool = True


@dataclass(order=True)
class Event:
    """A seller or platform decision due at `due_at` (sandbox time)."""

    due_at: datetime
    seq: int
    order_id: str = field(compare=False)
    kind: str = field(compare=False)
    item_id: int = field(default=0, compare=False)
