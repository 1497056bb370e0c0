"""My Orders: find one order and read its card, list every order, and what each allows.

The one rule for a refund's amount against what the page shows is :func:`check_order_refund`:
the price of the item line asked for when the card prints per-line prices, else the order total.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from playwright.async_api import Page

from bot.errors import InputError, OrderNotFoundError
from bot.models import OrderStatus
from flows.env import FlowEnv
from flows.money import check_refund_amount
from flows.pack import Pack
from flows.pages.order_list import OrderCard, OrderListPage

Fileable = Literal["cancel", "refund", "nothing"]
"""What Recoup can file for an order in its current status."""


async def find_order(page: Page, env: FlowEnv, order_id: str, *, search: bool = True) -> OrderCard:
    """Open My Orders, search for `order_id` (when the page can search) or click "View orders"
    until its card shows, and read the card with its item lines. OrderNotFoundError when the
    list ends without it."""
    listing = env.page_object(OrderListPage, page)
    await listing.open()
    card = await listing.find_card(order_id, search=search)
    if card is None:
        raise OrderNotFoundError(f"order {order_id} is not in this account's order list", order_id=order_id)
    found = await listing.read_card(card, lines=True)
    if found.order_id != order_id:
        # The card was found by its text containing the id; a longer id may contain it.
        raise OrderNotFoundError(
            f"order {order_id} is not in this account's order list (the card "
            f"found shows order {found.order_id or '(no id)'})",
            order_id=order_id,
        )
    await listing.snap("order-found")
    return found


async def list_orders(page: Page, env: FlowEnv, *, limit: int | None = None) -> list[OrderCard]:
    """Every order of the account as My Orders shows it (newest first, with date and item lines):
    "View orders" clicked until the list ends, or until `limit` cards show. Read-only."""
    listing = env.page_object(OrderListPage, page)
    await listing.open()
    while limit is None or await listing.cards().count() < limit:
        if not await listing.load_more():
            break
    cards = await listing.read_all(lines=True, limit=limit)
    await listing.snap("order-list")
    return cards


def fileable(pack: Pack, status: OrderStatus) -> Fileable:
    """What Recoup can file for an order in `status`, by the pack's `actions`: a cancellation
    (direct or requested), a return/refund (also while another line is in dispute: each line
    takes its own request), or nothing. The refund window after receipt is not on the list: the
    flow reads it on the detail page."""
    actions = pack.model.actions
    if status in actions.cancel_direct or status in actions.cancel_request:
        return "cancel"
    if status in actions.refund or status in actions.refund_already:
        return "refund"
    return "nothing"


def check_order_refund(
    card: OrderCard, amount: Decimal, currency: str | None, *, item_line: int | None = None
) -> Decimal | None:
    """THE refund check against the page: with `item_line` (1-based) the line must exist on the
    card (InputError naming how many lines it has) and `amount` must not exceed what that line
    cost, when the card prints per-line prices; otherwise (no line asked, or no per-line prices)
    the order total is the limit (:func:`flows.money.check_refund_amount`, whose errors it
    raises). Returns the limit's amount (None when the page showed none)."""
    count = len(card.lines) or len(card.item_names)
    if item_line is not None and count and item_line > count:
        raise InputError(
            f"order {card.order_id} has {count} item line(s): there is no line {item_line}",
            order_id=card.order_id, item_line=item_line, lines=count)  # fmt: skip
    line = card.lines[item_line - 1] if item_line is not None and item_line <= len(card.lines) else None
    if line is not None and line.amount is not None:
        text = f"{line.price_text} x{line.quantity}"
        return check_refund_amount(
            amount, currency, line.amount, order_id=card.order_id, total_text=text, line=line.number
        )
    return check_refund_amount(
        amount, currency, card.total, order_id=card.order_id, total_text=card.total_text or ""
    )
