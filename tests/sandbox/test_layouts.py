"""Class-name hashes rotate per start; both layouts render every page with the stable hooks."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from sandbox.server import RunningSandbox, start_sandbox
from sandbox.settings import SandboxSettings
from tests.sandbox.helpers import login

pytestmark = pytest.mark.e2e

MODULE_CLASS = re.compile(r"\b((?:reminder|upload|commet|apply)--[A-Za-z]+--[A-Za-z0-9]{7})\b")


def _module_classes(sb: RunningSandbox) -> set[str]:
    with httpx.Client(base_url=sb.url) as client:
        client.post("/login/", data={"fm-login-id": "ann@buyer.test", "fm-login-password": "ann-pass-1"})
        html = client.get("/p/reverse-pages/apply.html?orderId=3042417938137300&itemId=1").text
    return set(MODULE_CLASS.findall(html))


def test_two_starts_give_different_class_names() -> None:
    first = start_sandbox(SandboxSettings(), "test")
    second = start_sandbox(SandboxSettings(), "test")
    seeded = start_sandbox(SandboxSettings(hash_seed="fixed"), "test")
    seeded_again = start_sandbox(SandboxSettings(hash_seed="fixed"), "test")
    try:
        a, b = _module_classes(first), _module_classes(second)
        assert a and b and a.isdisjoint(b)
        prefixes = {name.rsplit("--", 1)[0] for name in a}
        assert prefixes == {name.rsplit("--", 1)[0] for name in b}
        assert {"upload--imageThumb", "upload--error", "commet--textarea"} <= prefixes
        assert _module_classes(seeded) == _module_classes(seeded_again)
    finally:
        for sb in (first, second, seeded, seeded_again):
            sb.stop()


async def _check_pages(page: Page, sb: RunningSandbox) -> None:
    await login(page, sb, "ann@buyer.test")
    await expect(page.locator("#root div.order-wrap div.order-item").first).to_be_visible()
    card = page.locator("div.order-item").first
    for hook in (
        "order_item_header_status",
        "order_item_header_info",
        "order_item_store_name",
        "order_item_content_info_name",
        "order_item_content_price_total",
    ):
        await expect(card.locator(f'[data-pl="{hook}"]')).to_have_count(1)
    await expect(page.locator('.order-more[data-pl="order_more"]')).to_be_visible()
    await expect(page.locator("div.comet-tabs-nav-item")).to_have_count(5)
    await page.screenshot(path=f"test-results/sandbox-list-{sb.settings.layout}.png")

    await page.goto(f"{sb.url}/p/order/detail.html?orderId=3042417938137300")
    await expect(page.locator("[data-pl=order_detail_status]")).to_have_text("Awaiting delivery")
    await expect(page.locator(".order-status [data-pl=order_detail_status]")).to_have_count(1)
    await expect(page.locator("[data-pl=order_detail_item]")).to_have_count(2)
    await expect(page.get_by_text(re.compile(r"^Order ID:"))).to_have_count(1)

    async with page.context.expect_page() as tab:
        await page.get_by_role("button", name="Returns/refunds").first.click()
    form = await tab.value
    await form.wait_for_load_state()
    await expect(form.locator(".comet-v2-select-show-arrow")).to_be_visible()
    await expect(form.locator('textarea[class*="commet--textarea--"]')).to_be_visible()
    await expect(form.locator('[class*="upload--"] input[type=file]')).to_have_count(1)
    await form.close()


async def test_layout_a_pages(page: Page, sandbox: RunningSandbox) -> None:
    sandbox.admin.reset()
    await _check_pages(page, sandbox)
    await expect(page.locator(".info-row").first).to_be_visible()
    await page.goto(sandbox.url + "/p/order/index.html")
    await expect(page.locator(".order-item-header-status-text").first).to_be_attached()


async def test_layout_b_pages(browser: Browser, sandbox_b: RunningSandbox) -> None:
    sandbox_b.admin.reset()
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(sandbox_b.url + "/login/")
        await expect(page.locator("#batman-dialog-wrap")).to_be_visible()
        await expect(page.locator("#fm-login-password")).to_be_hidden()  # email first
        await _check_pages(page, sandbox_b)
        await page.goto(sandbox_b.url + "/p/order/index.html")
        await expect(page.locator(".order-item-header-status-text")).to_have_count(0)
        await expect(page.locator(".order-item-header-status-label").first).to_be_visible()
        # buttons come before the items in layout B
        first_card = page.locator("div.order-item").first
        order = await first_card.evaluate("c => [...c.children].map(e => e.className).join(' | ')")
        assert order.index("order-item-btns") < order.index("order-item-content")
        await page.goto(f"{sandbox_b.url}/p/order/detail.html?orderId=3042417938137300")
        await expect(page.locator(".info-row")).to_have_count(0)
        await expect(page.locator(".order-info-line").first).to_be_visible()
    finally:
        await context.close()
