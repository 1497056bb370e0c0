"""Status scan: the current status of many orders of ONE account in one session and one pass.

My Orders is opened once and "View orders" clicked until every wanted order has shown (or the
list ends). Orders whose refund status matters (those in `refund_ids` and those in
`actions.refund_already`, a dispute) are then read from the Returns & refunds list, one page for
all of them; only an order that list does not show (or shows with a text the pack does not know)
costs its detail page and its request's tab.
"""

from __future__ import annotations

from collections.abc import Collection

from playwright.async_api import Page

from bot.errors import LocatorMissingError
from bot.models import RefundStatus
from flows.env import FlowEnv
from flows.pages.order_detail import OrderDetailPage
from flows.pages.order_list import OrderListPage
from flows.pages.refund_list import RefundListPage
from flows.refund import read_refund_status
from flows.results import OrderState


async def scan_statuses(page: Page, env: FlowEnv, order_ids: Collection[str], *,
                        refund_ids: Collection[str] = ()) -> dict[str, OrderState | None]:
    """Order id → its state, or None when the account's list does not have it."""
    wanted = list(dict.fromkeys(order_ids))
    listing = env.page_object(OrderListPage, page)
    await listing.open()
    found: dict[str, OrderState] = {}
    while True:
        for order_id in wanted:
            if order_id in found:
                continue
            card = listing.card_for(order_id)
            if await card.count() > 0:
                read = await listing.read_card(card.first)
                found[order_id] = OrderState(order_id, read.status, read.status_text)
        if len(found) == len(wanted) or not await listing.load_more():
            break
    await listing.snap("scan-list")
    needs_refund = [oid for oid, st in found.items()
                    if oid in set(refund_ids) or st.status in env.pack.model.actions.refund_already]
    listed = await _refunds_from_list(page, env, needs_refund) if needs_refund else {}
    for order_id, (refund, refund_text) in listed.items():
        order = found[order_id]
        found[order_id] = OrderState(order_id, order.status, order.status_text, refund, refund_text)
    needs_detail = [oid for oid in needs_refund if oid not in listed]
    detail = env.page_object(OrderDetailPage, page)
    for order_id in needs_detail:
        await detail.open(order_id)
        status, text = await detail.status()
        refund, refund_text = await _first_refund(detail)
        found[order_id] = OrderState(order_id, status, text, refund, refund_text)
    return {oid: found.get(oid) for oid in wanted}


async def _refunds_from_list(page: Page, env: FlowEnv, order_ids: list[str]
                             ) -> dict[str, tuple[RefundStatus, str]]:
    """The refund status of each of `order_ids` the Returns & refunds list shows; {} when the
    page has no list at all (the callers then read every order from its detail page)."""
    listing = env.page_object(RefundListPage, page)
    try:
        await listing.open()
    except LocatorMissingError:
        return {}
    statuses: dict[str, tuple[RefundStatus, str]] = {}
    for order_id in order_ids:
        seen = await listing.status_of(order_id)
        if seen is not None:
            statuses[order_id] = seen
    await listing.snap("scan-refund-list")
    return statuses


async def _first_refund(detail: OrderDetailPage) -> tuple[RefundStatus, str]:
    count = await detail.pack.locator(detail.page, "detail_item").count()
    for index in range(count):
        refund = await read_refund_status(detail, index)
        if refund[0] is not RefundStatus.NONE:
            return refund
    return RefundStatus.NONE, ""


async def count_orders(page: Page, env: FlowEnv) -> int:
    """How many orders the account has: My Orders opened, "View orders" clicked until the list
    ends, cards counted. Used for the dispute-share cap (bot.policies)."""
    listing = env.page_object(OrderListPage, page)
    await listing.open()
    while await listing.load_more():
        pass
    return await listing.cards().count()
