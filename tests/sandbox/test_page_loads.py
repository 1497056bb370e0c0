"""The admin `page_loads` counter (used by benchmarks/throughput.py): every GET the portal answers
with a rendered page counts once for the signed-in account (signed out: ""), a "View orders"
batch counts as a fragment, a POST or an admin call counts nothing, and the call needs the token."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page

from sandbox.server import RunningSandbox
from tests.sandbox.helpers import ORDERS, login

pytestmark = pytest.mark.e2e

ANN = "ann@buyer.test"


def _diff(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]], email: str) -> tuple[int, int]:
    now, then = after.get(email, {}), before.get(email, {})
    return now.get("page", 0) - then.get("page", 0), now.get("fragment", 0) - then.get("fragment", 0)


async def test_page_loads_count_rendered_gets_per_account(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    start = sb.admin.page_loads()
    await login(page, sb, ANN)
    signed_in = sb.admin.page_loads()
    assert _diff(signed_in, start, "")[0] >= 1  # the login form, rendered while signed out

    await page.goto(sb.url + ORDERS)
    await page.goto(sb.url + "/p/order/detail.html?orderId=3042417938137200")
    two_pages = sb.admin.page_loads()
    assert _diff(two_pages, signed_in, ANN) == (2, 0)
    assert _diff(two_pages, signed_in, "") == (0, 0)

    await page.goto(sb.url + ORDERS)
    status = "[data-pl=order_item_header_status]"
    before_more = await page.locator(status).count()
    await page.locator("[data-pl=order_more] button").click()
    await page.wait_for_function(f"n => document.querySelectorAll('{status}').length > n", arg=before_more)
    after_more = sb.admin.page_loads()
    assert _diff(after_more, two_pages, ANN) == (1, 1)  # My Orders again, then one batch

    async with httpx.AsyncClient(base_url=sb.url) as http:
        assert (await http.get("/__sandbox__/page_loads")).status_code == 401
    assert sb.admin.page_loads() == after_more  # admin calls count nothing
