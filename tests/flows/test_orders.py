"""Finding an order and reading its status from the list, in both layouts and in German."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from bot.errors import OrderNotFoundError
from bot.models import OrderStatus
from flows.login import log_in
from flows.orders import find_order
from tests.flows.conftest import ONLY_A, ONLY_B, Portal

ANN = "ann@buyer.test"


@pytest.mark.parametrize(("portal", "search"), [("a", True), ("b", False)], indirect=["portal"],
                         ids=["search", "view-orders"])
async def test_find_recent_and_old_orders(portal: Portal, tab: Page, search: bool) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    card = await find_order(tab, env, "3042417938137302", search=search)
    assert card.order_id == "3042417938137302"
    assert card.status is OrderStatus.AWAITING_DELIVERY and card.status_text == "Awaiting delivery"
    assert card.item_names == ("Silicone Baking Mat 2pcs",)
    assert card.total_text and "20.00" in card.total_text
    # the oldest order of the generated history sits behind "View orders" (batches of 20)
    orders = portal.sb.admin.state()["orders"]
    mine = sorted((o["placed_at"], oid) for oid, o in orders.items() if o["account"] == ANN)
    assert len(mine) > 40
    old_id = mine[0][1]
    old = await find_order(tab, env, old_id, search=search)
    assert old.order_id == old_id and old.status is OrderStatus.COMPLETED

@ONLY_A
async def test_unknown_order(portal: Portal, tab: Page) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    with pytest.raises(OrderNotFoundError):
        await find_order(tab, env, "3999999999999999")


@ONLY_B
async def test_german_list(portal: Portal, tab: Page) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds("bernd@kaeufer.test"), locale=None)
    card = await find_order(tab, env, "3043000000000101")
    assert card.status is OrderStatus.AWAITING_DELIVERY and card.status_text == "Lieferung ausstehend"
