"""My Orders and order detail in real Chromium: actions appear only where the status allows them."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from sandbox.server import RunningSandbox
from tests.sandbox.helpers import login

pytestmark = pytest.mark.e2e

ANN = "ann@buyer.test"
# status -> (cancel button text or None, number of "Returns/refunds" buttons)
EXPECTED = {
    "3042417938137135": ("awaiting_payment", "Cancel order", 0),
    "3042417938137402": ("payment_verifying", "Cancel order", 0),
    "3042417938137200": ("awaiting_shipment", "Request order cancellation", 0),
    "3042417938137400": ("cancel_requested", None, 0),
    "3042417938137300": ("awaiting_delivery", None, 2),
    "3042417938137303": ("awaiting_feedback", None, 1),
    "3042417938137304": ("completed", None, 1),
    "3042417938137305": ("completed", None, 0),  # received 60 days ago: window closed
    "3042417938137401": ("in_dispute", None, 0),
    "3042417938137403": ("canceled", None, 0),
    "3042417938137404": ("closed", None, 0),
}
TEXT = {
    "awaiting_payment": "Awaiting payment",
    "payment_verifying": "Payment being verified",
    "awaiting_shipment": "Awaiting shipment",
    "cancel_requested": "Cancellation requested",
    "awaiting_delivery": "Awaiting delivery",
    "awaiting_feedback": "Awaiting feedback",
    "completed": "Completed",
    "in_dispute": "Dispute in progress",
    "canceled": "Canceled",
    "closed": "Closed",
}


async def test_actions_follow_status(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    await login(page, sb, ANN)
    for order_id, (status, cancel_text, refunds) in EXPECTED.items():
        await page.goto(f"{sb.url}/p/order/detail.html?orderId={order_id}")
        await expect(page.locator("[data-pl=order_detail_status]")).to_have_text(TEXT[status])
        cancel_buttons = page.get_by_role("button", name="Cancel order", exact=True)
        request_buttons = page.get_by_role("button", name="Request order cancellation")
        if cancel_text == "Cancel order":
            await expect(cancel_buttons).to_have_count(1)
            await expect(request_buttons).to_have_count(0)
        elif cancel_text == "Request order cancellation":
            await expect(request_buttons).to_have_count(1)
            await expect(cancel_buttons).to_have_count(0)
        else:
            await expect(cancel_buttons).to_have_count(0)
            await expect(request_buttons).to_have_count(0)
        await expect(page.get_by_role("button", name="Returns/refunds")).to_have_count(refunds)
    # the dispute order offers its refund view instead
    await page.goto(f"{sb.url}/p/order/detail.html?orderId=3042417938137401")
    await expect(page.get_by_role("link", name="View refund")).to_have_count(1)


async def test_list_tabs_more_and_search(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    total = len(sb.scenario.orders(ANN))
    assert total > 40
    await login(page, sb, ANN)
    cards = page.locator("div.order-item")
    await expect(cards).to_have_count(20)
    more = page.locator('.order-more[data-pl="order_more"] button')
    await more.click()
    await expect(cards).to_have_count(40)
    await expect(page).to_have_url(f"{sb.url}/p/order/index.html")  # appended, no page change
    while await more.count():
        await more.click()
        await page.wait_for_function(
            "document.querySelector('.order-more') === null || "
            "document.querySelectorAll('div.order-item').length % 20 === 0"
        )
        if await cards.count() == total:
            break
    await expect(cards).to_have_count(total)
    await expect(more).to_have_count(0)
    ids = await page.locator("[data-pl=order_item_header_info]").all_inner_texts()
    assert len({line.split("Order ID: ")[1].split()[0] for line in ids}) == total

    await page.get_by_role("tab", name="To ship").click()
    await expect(page.locator(".comet-tabs-nav-item-active")).to_have_text("To ship")
    statuses = await page.locator("[data-pl=order_item_header_status]").all_inner_texts()
    assert statuses and set(statuses) <= {"Awaiting shipment", "Cancellation requested"}

    await page.get_by_role("tab", name="View all").click()
    await page.get_by_label("Order ID, product or store name").fill("3042417938137301")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(cards).to_have_count(1)
    await expect(cards.locator("[data-pl=order_item_header_info]")).to_contain_text("3042417938137301")
    total_text = await cards.locator("[data-pl=order_item_content_price_total]").inner_text()
    assert total_text.replace("\n", "") == "Total: US $15.00"


def _list_html(sb: RunningSandbox, email: str) -> str:
    with httpx.Client(base_url=sb.url) as client:
        password = sb.scenario.account(email).password
        client.post("/login/", data={"fm-login-id": email, "fm-login-password": password})
        return client.get("/p/order/index.html").text


@pytest.mark.parametrize(
    ("email", "order_id", "copy", "total"),
    [
        ("hugo@buyer.test", "3044000000000101", "Copy", "US $1,234.56"),
        ("hugo@buyer.test", "3044000000000102", "Copy", "€12.34"),
        ("bernd@kaeufer.test", "3043000000000101", "Kopieren", "14,20 €"),
        ("bernd@kaeufer.test", "3043000000000104", "Kopieren", "129,46zł"),
        ("bernd@kaeufer.test", "3043000000000105", "Kopieren", "US $1.234,50"),
    ],
)
def test_cards_have_the_real_shape(
    sandbox: RunningSandbox, email: str, order_id: str, copy: str, total: str
) -> None:
    """The list as the real site serves it: the Copy label glued to the id, spm= before the id in
    every link, totals in the order's currency in the page's number format, digits split into
    spans on every other card."""
    sandbox.admin.reset()
    html = _list_html(sandbox, email)
    assert re.search(rf"{order_id}<span class=\"order-item-copy\"[^>]*>{copy}</span>", html)
    links = re.findall(rf"href=\"(/p/(?:order/detail|tracking/index)\.html\?[^\"]*{order_id})\"", html)
    spm_first = re.compile(r"\?spm=a2g0o\.order_list\.[^&]+&(?:orderId|tradeOrderId)=")
    assert links and all(spm_first.search(u) for u in links)
    card = html.split(f'data-order-id="{order_id}"', 1)[1].split('data-order-id="', 1)[0]
    price = re.search(r'data-pl="order_item_content_price_total">(.*?)</span>\s*</div>', card, re.S)
    assert price and re.sub(r"<[^>]+>", "", price.group(1)).split(": ", 1)[1] == total
    split = "".join(f"<span>{ch}</span>" for ch in total)
    assert ("<span>" not in price.group(1)) or split in price.group(1)
    totals = re.findall(r'data-pl="order_item_content_price_total">(.*?)</span>\s*</div>', html, re.S)
    assert any("<span>" in t for t in totals) and any("<span>" not in t for t in totals)
