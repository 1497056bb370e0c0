"""Find an order in My Orders and read its status (canonical plus the raw text)."""

from __future__ import annotations

from playwright.async_api import Page

from bot.errors import OrderNotFoundError
from flows.env import FlowEnv
from flows.pages.order_list import OrderCard, OrderListPage


async def find_order(page: Page, env: FlowEnv, order_id: str, *, search: bool = True) -> OrderCard:
    """Open My Orders, search for `order_id` (when the page can search) or click "View orders"
    until its card shows, and read the card. OrderNotFoundError when the list ends without it."""
    listing = env.page_object(OrderListPage, page)
    await listing.open()
    card = await listing.find_card(order_id, search=search)
    if card is None:
        raise OrderNotFoundError(f"order {order_id} is not in this account's order list", order_id=order_id)
    found = await listing.read_card(card)
    if found.order_id != order_id:
        # The card was found by its text containing the id; a longer id may contain it.
        raise OrderNotFoundError(
            f"order {order_id} is not in this account's order list (the card "
            f"found shows order {found.order_id or '(no id)'})",
            order_id=order_id,
        )
    await listing.snap("order-found")
    return found
