"""Finding an order and reading its status from the list, in both layouts and in German."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.async_api import Page

from bot.errors import OrderNotFoundError
from bot.models import OrderStatus
from flows.login import log_in
from flows.money import Money
from flows.orders import find_order
from flows.pages.order_list import OrderListPage
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
    assert card.total == Money(Decimal("20.00"), "USD")
    # the oldest order of the generated history sits behind "View orders" (batches of 20)
    orders = portal.sb.admin.state()["orders"]
    mine = sorted((o["placed_at"], oid) for oid, o in orders.items() if o["account"] == ANN)
    assert len(mine) > 40
    old_id = mine[0][1]
    old = await find_order(tab, env, old_id, search=search)
    assert old.order_id == old_id and old.status is OrderStatus.COMPLETED


@pytest.mark.parametrize("portal", ["a", "b"], indirect=True)
async def test_item_lines_with_prices_in_both_layouts(portal: Portal, tab: Page) -> None:
    """Each line of a card with its unit price and quantity (layout B renames the line's class:
    the pack finds it by the item name hook it holds)."""
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    two = await find_order(tab, env, "3042417938137300")
    assert [(line.number, line.name, line.amount) for line in two.lines] == [
        (1, "Phone Case for Galaxy S23", Money(Decimal("4.10"), "USD")),
        (2, "Mechanical Keyboard Keycaps Set", Money(Decimal("21.50"), "USD"))]
    pair = await find_order(tab, env, "3042417938137135")  # 2 x US $3.49
    assert [(line.quantity, line.price, line.amount) for line in pair.lines] == [
        (2, Money(Decimal("3.49"), "USD"), Money(Decimal("6.98"), "USD"))]
    assert two.date_text and two.date_text[:3].isalpha()

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


# Every card of a list as the real site shapes it: "Order ID: <id>Copy" with no space, detail and
# tracking links with spm= before the id, totals split into one span per character on every
# other card, amounts in US $, €, £ and zł, printed in the page's language.
LISTS = [("hugo@buyer.test", "en_US", "Copy"), ("bernd@kaeufer.test", "de_DE", "Kopieren")]


@pytest.mark.parametrize(("email", "locale", "copy"), LISTS, ids=["english", "german"])
async def test_every_card_reads_right(portal: Portal, tab: Page, email: str, locale: str, copy: str) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(email), locale=locale)
    assert await tab.locator("html").get_attribute("lang") == locale[:2]
    listing = OrderListPage(tab, env)
    await listing.open()
    cards = await listing.read_all()
    expected = {o.id: o for o in portal.sb.scenario.orders(email)}
    assert len(cards) == len(expected) < 20  # one batch: every order of the account is on the page
    currencies = set()
    for card in cards:
        order = expected[card.order_id]
        assert card.status is OrderStatus(order.status), card
        assert card.store == order.store
        assert card.total == Money(order.total, order.currency), card
        currencies.add(card.total.currency if card.total else None)
    assert {c.order_id for c in cards} == set(expected)
    assert {"USD", "EUR", "GBP", "PLN"} <= currencies
    # the traps are really there: the Copy label glued to the id, spm= before orderId=
    first = listing.cards().first
    info = await first.locator("[data-pl=order_item_header_info]").text_content() or ""
    assert f"{cards[0].order_id}{copy}" in info
    href = await first.locator("a[href*='detail.html']").first.get_attribute("href") or ""
    assert href.index("spm=") < href.index(f"orderId={cards[0].order_id}")
    split = listing.cards().locator("[data-pl=order_item_content_price_total] span")
    assert await split.count() > 0  # digits in spans of their own on some cards


async def test_id_from_the_details_link_when_the_text_has_none(portal: Portal, tab: Page) -> None:
    """A card whose info lines carry no id (an id the pack's text pattern cannot find) is read by
    its details link, whose orderId= comes after spm=."""
    env = portal.env()
    await log_in(tab, env, portal.creds("hugo@buyer.test"))
    listing = OrderListPage(tab, env)
    await listing.open()
    card = listing.cards().filter(has=tab.locator("a[href*='orderId=3044000000000102']")).first
    await card.locator("[data-pl=order_item_header_info]").evaluate(
        "el => { el.textContent = 'Order date: Feb 17, 2026' }")
    assert (await listing.read_card(card)).order_id == "3044000000000102"
