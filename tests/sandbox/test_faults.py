"""Faults and overlays: 5xx before any change, dropped connections, admin untouched, click interceptors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.async_api import Page, expect

from sandbox.server import RunningSandbox
from tests.sandbox.helpers import ORDERS, login

pytestmark = pytest.mark.e2e


@contextmanager
def _client(sb: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.url) as client:
        resp = client.post(
            "/login/", data={"fm-login-id": "ann@buyer.test", "fm-login-password": "ann-pass-1"}
        )
        assert resp.status_code == 303
        yield client


def test_5xx_on_submit_changes_nothing(fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    order_id = "3042417938137200"
    with _client(sb) as client:
        sb.admin.set_faults(error_next=1, error_methods="POST")
        resp = client.post(f"/p/order/api/cancel?orderId={order_id}", data={"reason": "duplicate"})
        assert resp.status_code == 503
        assert sb.admin.order(order_id)["status"] == "awaiting_shipment"
        subs = sb.admin.submissions(order_id)
        assert (subs["count"], subs["rejected_by_fault"]) == (0, 1)
        # admin calls are never hit by faults
        sb.admin.set_faults(error_share=1.0, error_methods="any")
        assert sb.admin.clock()["now"]
        assert client.get(ORDERS).status_code == 503
        sb.admin.clear_faults()
        resp = client.post(f"/p/order/api/cancel?orderId={order_id}", data={"reason": "duplicate"})
        assert resp.status_code == 303
        subs = sb.admin.submissions(order_id)
        assert (subs["count"], subs["accepted"], subs["rejected_by_fault"]) == (1, 1, 1)


def test_dropped_connection_and_latency(fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    with _client(sb) as client:
        sb.admin.set_faults(drop_next=1)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(ORDERS)
        assert client.get(ORDERS).status_code == 200
        sb.admin.set_faults(latency_ms=400)
        resp = client.get(ORDERS)
        assert resp.status_code == 200 and resp.elapsed.total_seconds() >= 0.4
        sb.admin.clear_faults()


def test_session_dies_mid_flow(fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    with _client(sb) as client:
        sb.admin.set_faults(expire_session_after=2)
        assert client.get(ORDERS).status_code == 200
        assert client.get("/p/order/detail.html?orderId=3042417938137300").status_code == 200
        resp = client.get("/p/order/detail.html?orderId=3042417938137301")
        assert resp.status_code == 302 and resp.headers["location"].startswith("/login/?return_url=")
        sb.admin.clear_faults()


async def _top_element_class(page: Page, selector: str) -> str:
    return str(
        await page.evaluate(
            """sel => {
            const r = document.querySelector(sel).getBoundingClientRect();
            const e = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            const cover = e.closest('.gdpr-banner, .comet-loading-wrap');
            return cover ? cover.className : 'page';
        }""",
            selector,
        )
    )


async def test_cookie_banner_and_loading_overlay_intercept_clicks(
    page: Page, fresh_sandbox: RunningSandbox
) -> None:
    sb = fresh_sandbox
    await page.goto(sb.url + "/login/")
    assert await _top_element_class(page, "#fm-login-id") == "gdpr-banner"
    await page.get_by_role("button", name="Accept cookies").click()
    await expect(page.locator(".gdpr-banner")).to_have_count(0)
    await page.reload()
    await expect(page.locator(".gdpr-banner")).to_have_count(0)  # remembered by cookie

    sb.admin.set_settings(overlay_share=1.0, overlay_ms=4000)
    try:
        await login(page, sb, "ann@buyer.test")
        await expect(page.locator("div.comet-loading-wrap")).to_be_attached()
        assert await _top_element_class(page, ".order-item") == "comet-loading-wrap"
        await expect(page.locator("div.comet-loading-wrap")).to_have_count(0, timeout=10_000)
        assert await _top_element_class(page, ".order-item") == "page"
    finally:
        sb.admin.set_settings(overlay_share=0.0)


async def test_challenge_share_fault(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    await login(page, sb, "ann@buyer.test")
    sb.admin.set_faults(challenge_share=1.0, challenge_form="page")
    await page.goto(f"{sb.url}/p/order/detail.html?orderId=3042417938137300")
    await expect(page).to_have_url(re.compile(r"/_____tmd_____/punish"))
    sb.admin.clear_faults()
    sb.admin.clear_challenge("ann@buyer.test")
    await expect(page.locator("[data-pl=order_detail_status]")).to_be_visible(timeout=10_000)
