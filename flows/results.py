"""What the flows return, and the callback type they take before an irreversible click."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bot.models import OrderStatus, RefundStatus

BeforeSubmit = Callable[[], Awaitable[None]]
"""Awaited right before the irreversible click (the engine writes its intent there). If it
raises, nothing is clicked and the error propagates."""


async def nothing_to_record() -> None:
    """A `before_submit` that records nothing (tests and dry runs)."""


@dataclass(frozen=True)
class OrderState:
    """An order's status as the portal shows it."""

    order_id: str
    status: OrderStatus
    status_text: str
    refund_status: RefundStatus | None = None
    refund_text: str | None = None


@dataclass(frozen=True)
class CancelResult:
    """The outcome of a cancel flow. `submitted` is False only in a dry run."""

    order_id: str
    mode: Literal["direct", "request"]
    status_before: OrderStatus
    status_after: OrderStatus
    status_text: str
    submitted: bool


@dataclass(frozen=True)
class RefundResult:
    """The outcome of a return/refund flow; `refund_status` is what the page shows after it."""

    order_id: str
    item_index: int
    refund_status: RefundStatus
    refund_text: str
    uploaded: int
    submitted: bool


@dataclass(frozen=True)
class OfferResult:
    """The outcome of answering a seller's counter-proposal."""

    order_id: str
    offered: Decimal
    asked: Decimal
    decision: Literal["accept", "disagree"]
    refund_status: RefundStatus
    refund_text: str
    submitted: bool
