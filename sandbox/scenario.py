"""Scenario files: accounts, their orders and the seller's behaviour, as YAML.

`load_scenario(path)` validates the file and expands the compact `generate:` rules into concrete
orders (deterministic: the same file always gives the same ids, dates and amounts), so
`Scenario.accounts[i].orders` lists every order. Invalid files raise pydantic's ValidationError
(or yaml.YAMLError); duplicate order ids raise ValueError.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyotp
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sandbox.i18n import currency_code

STATUSES: tuple[str, ...] = (
    "awaiting_payment",
    "payment_verifying",
    "awaiting_shipment",
    "cancel_requested",
    "awaiting_delivery",
    "awaiting_feedback",
    "completed",
    "in_dispute",
    "canceled",
    "closed",
)
Status = Literal[
    "awaiting_payment",
    "payment_verifying",
    "awaiting_shipment",
    "cancel_requested",
    "awaiting_delivery",
    "awaiting_feedback",
    "completed",
    "in_dispute",
    "canceled",
    "closed",
]
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SellerBehaviour(_Strict):
    """How the seller answers requests on one order (delays in sandbox-clock seconds)."""

    cancel: Literal["approve", "reject", "no_answer"] = "approve"
    cancel_delay_s: int = Field(default=3600, ge=0)
    refund: Literal["accept", "reject", "counter", "escalate", "no_answer"] = "accept"
    refund_delay_s: int = Field(default=3600, ge=0)
    counter_share: Decimal = Field(default=Decimal("0.5"), gt=0, lt=1)
    """A counter-proposal offers this share of the requested amount."""
    platform: Literal["refund", "reject"] = "refund"
    """What the platform decides on an escalated dispute."""


class Item(_Strict):
    """One item line of an order."""

    name: str
    price: Decimal = Field(gt=0)
    quantity: int = Field(default=1, ge=1)
    sku: str = ""


class Order(_Strict):
    """One order as the scenario sets it up; times are relative to the sandbox start."""

    id: str = Field(pattern=r"^\d{15,19}$")
    status: Status
    placed_days_ago: float = Field(default=10, ge=0)
    received_days_ago: float | None = None
    """Days since confirmed receipt (awaiting_feedback / completed); drives the 15-day window."""
    store: str = "Shenzhen Gadget Store"
    items: list[Item] = Field(min_length=1)
    shipping: Decimal = Decimal("0")
    currency: str | None = None
    """ISO code (`USD`, `EUR`, `GBP`, `PLN`; the legacy prefix `US $` is accepted); None: the
    account's currency."""
    seller: SellerBehaviour = Field(default_factory=SellerBehaviour)
    refund_first_modal: bool = False
    """Show the "Have you received the item?" modal before the refund form opens."""

    @property
    def total(self) -> Decimal:
        return sum((i.price * i.quantity for i in self.items), Decimal("0")) + self.shipping

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        return None if value is None else currency_code(value)


class GenerateRule(_Strict):
    """Compact rule: `count` orders per listed status (or `statuses: all`)."""

    statuses: list[Status] | Literal["all"]
    count: int = Field(default=1, ge=1)
    seller: SellerBehaviour = Field(default_factory=SellerBehaviour)
    refund_first_modal: bool = False
    min_days_ago: float = Field(default=1, ge=0)
    max_days_ago: float = Field(default=60, ge=0)
    recently_received: bool = True
    """For awaiting_feedback / completed: received within the refund window (else long ago)."""


class Account(_Strict):
    """A buyer account with its mailbox, language, login hurdles and orders."""

    email: str
    password: str
    mail_password: str | None = None
    name: str = "Buyer"
    locale: Literal["en_US", "de_DE"] = "en_US"
    currency: str = "USD"
    """Currency of the account's orders unless an order names its own (see Order.currency)."""
    login_code: Literal["never", "new_device", "always"] = "never"
    totp_secret: str | None = None
    challenge: Literal["none", "login", "orders", "always"] = "none"
    challenge_form: Literal["dialog", "page"] = "dialog"
    orders: list[Order] = Field(default_factory=list)
    generate: list[GenerateRule] = Field(default_factory=list)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        return currency_code(value)

    @field_validator("totp_secret")
    @classmethod
    def _check_secret(cls, value: str | None) -> str | None:
        if value is not None:
            pyotp.TOTP(value).now()  # raises ValueError on a short or non-base32 secret
        return value

    @property
    def mailbox_password(self) -> str:
        return self.mail_password or self.password


class Scenario(_Strict):
    """A whole scenario file, with generated orders expanded."""

    name: str = "scenario"
    settings: dict[str, Any] = Field(default_factory=dict)
    """Defaults for SandboxSettings fields (the caller's explicit settings win)."""
    now: datetime | None = None
    """Sandbox clock at start; default the real time."""
    accounts: list[Account] = Field(min_length=1)

    @model_validator(mode="after")
    def _expand(self) -> Scenario:
        for acc in self.accounts:
            _expand_account(acc)
            for order in acc.orders:
                order.currency = order.currency or acc.currency
        seen: set[str] = set()
        for acc in self.accounts:
            for order in acc.orders:
                if order.id in seen:
                    raise ValueError(f"duplicate order id {order.id}")
                seen.add(order.id)
        emails = [a.email.lower() for a in self.accounts]
        if len(set(emails)) != len(emails):
            raise ValueError("duplicate account email")
        return self

    def account(self, email: str) -> Account:
        """The account with this email; KeyError if none."""
        for acc in self.accounts:
            if acc.email.lower() == email.lower():
                return acc
        raise KeyError(email)

    def orders(self, email: str | None = None, status: str | None = None, **seller: str) -> list[Order]:
        """Orders filtered by account, status and seller behaviour fields (`refund="counter"`)."""
        out: list[Order] = []
        for acc in self.accounts:
            if email and acc.email.lower() != email.lower():
                continue
            for order in acc.orders:
                if status and order.status != status:
                    continue
                if any(getattr(order.seller, k) != v for k, v in seller.items()):
                    continue
                out.append(order)
        return out

    def owner(self, order_id: str) -> Account:
        """The account owning an order; KeyError if none."""
        for acc in self.accounts:
            if any(o.id == order_id for o in acc.orders):
                return acc
        raise KeyError(order_id)


_PRODUCTS = (
    ("USB-C Charging Cable 2m Braided", "Black"),
    ("Wireless Earbuds Bluetooth 5.3", "White"),
    ("Stainless Steel Kitchen Scale", "Silver"),
    ("LED Strip Lights 5m RGB", "5m"),
    ("Phone Case for Galaxy S23", "Clear"),
    ("Mechanical Keyboard Keycaps Set", "PBT"),
    ("Camping Headlamp Rechargeable", "Orange"),
    ("Silicone Baking Mat 2pcs", "Red"),
    ("Mini Screwdriver Set 24 in 1", "Blue"),
    ("Cotton T-Shirt Oversize", "XL"),
    ("Smart Watch Band 22mm", "Green"),
    ("Bike Phone Holder Aluminium", "Grey"),
)
_STORES = (
    "Shenzhen Gadget Store",
    "HOCO Official Store",
    "Baseus Global Store",
    "Home Life Select Store",
    "Outdoor Fun Factory Store",
    "UGREEN Official Store",
)


def _order_id(email: str, index: int) -> str:
    digest = hashlib.sha256(f"{email}:{index}".encode()).hexdigest()
    return "30" + str(int(digest, 16))[:14]


def _expand_account(acc: Account) -> None:
    rnd = random.Random(acc.email)
    index = 0
    for rule in acc.generate:
        statuses: list[str] = list(STATUSES) if rule.statuses == "all" else list(rule.statuses)
        for status in statuses:
            for _ in range(rule.count):
                index += 1
                days = round(rnd.uniform(rule.min_days_ago, max(rule.min_days_ago, rule.max_days_ago)), 2)
                received = None
                if status in ("awaiting_feedback", "completed", "in_dispute"):
                    received = round(rnd.uniform(0.5, 10), 2) if rule.recently_received else days * 0.5 + 20
                    days = max(days, received + 7)
                items = []
                for _line in range(rnd.choice((1, 1, 1, 2))):
                    name, sku = rnd.choice(_PRODUCTS)
                    price = Decimal(rnd.randint(99, 4999)) / 100
                    items.append(Item(name=name, sku=sku, price=price, quantity=rnd.choice((1, 1, 2))))
                acc.orders.append(
                    Order(
                        id=_order_id(acc.email, index),
                        status=status,
                        placed_days_ago=days,
                        received_days_ago=received,
                        store=rnd.choice(_STORES),
                        items=items,
                        seller=rule.seller.model_copy(),
                        refund_first_modal=rule.refund_first_modal,
                    )
                )
    acc.generate = []


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario; a bare name like `test` means `sandbox/scenarios/test.yaml`."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = SCENARIO_DIR / f"{p}.yaml"
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    return Scenario.model_validate(data)
