"""The cancel flow against the sandbox in both layouts: direct cancel, cancellation request,
already requested, not eligible (nothing clicked), German pages, evidence manifest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page, Route

from bot.errors import AlreadyRequestedError, NeedsHumanError, NotEligibleError
from bot.evidence import load_manifest, verify_manifest
from bot.models import OrderStatus
from flows.cancel import cancel_order
from flows.login import log_in
from flows.results import nothing_to_record
from tests.flows.conftest import ONLY_A, ONLY_B, Portal

ANN = "ann@buyer.test"
BERND = "bernd@kaeufer.test"


async def test_direct_cancel_of_unpaid_order(portal: Portal, tab: Page, tmp_path: Path) -> None:
    env = portal.env(tmp_path / "case")
    calls: list[int] = []

    async def before_submit() -> None:
        calls.append(portal.counts("3042417938137135")["count"])

    await log_in(tab, env, portal.creds(ANN))
    result = await cancel_order(tab, env, "3042417938137135", reason="duplicate_order",
                                comment="ordered twice", before_submit=before_submit)
    assert result.mode == "direct" and result.submitted
    assert result.status_before is OrderStatus.AWAITING_PAYMENT
    assert result.status_after is OrderStatus.CANCELED
    assert calls == [0]  # awaited once, before anything was sent
    counts = portal.counts("3042417938137135")
    assert counts["accepted"] == 1 and counts["duplicates"] == 0
    assert portal.sb.admin.order("3042417938137135")["status"] == "canceled"
    case = tmp_path / "case"
    assert verify_manifest(case) == []
    items = load_manifest(case)
    steps = [i.step for i in items]
    assert "cancel-submit" in steps and "cancel-confirmed" in steps
    assert {i.kind for i in items} == {"screenshot", "html"}
    assert all(i.url and i.url.startswith(portal.sb.url) for i in items)


async def test_request_cancel_then_rerun_submits_nothing(portal: Portal, tab: Page, tmp_path: Path) -> None:
    env = portal.env(tmp_path / "case")
    order = "3042417938137200"
    await log_in(tab, env, portal.creds(ANN))
    result = await cancel_order(tab, env, order, reason="not_shipped_on_time", comment=None,
                                before_submit=nothing_to_record)
    assert result.mode == "request"
    assert result.status_after is OrderStatus.CANCEL_REQUESTED
    with pytest.raises(AlreadyRequestedError) as info:
        await cancel_order(tab, env, order, reason="not_shipped_on_time", comment=None,
                           before_submit=nothing_to_record)
    assert info.value.context["status"] == "cancel_requested"
    counts = portal.counts(order)
    assert counts["accepted"] == 1 and counts["duplicates"] == 0 and counts["count"] == 1
    assert verify_manifest(tmp_path / "case") == []


@ONLY_A
async def test_pending_cancellation_is_already_requested(portal: Portal, tab: Page) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    called = False

    async def before_submit() -> None:
        nonlocal called
        called = True

    for order in ("3042417938137400", "3042417938137403"):  # pending, finished
        with pytest.raises(AlreadyRequestedError):
            await cancel_order(tab, env, order, reason="wrong_product", comment=None,
                               before_submit=before_submit)
        assert portal.counts(order)["count"] == 0
    assert not called


@ONLY_B
async def test_shipped_or_closed_order_refused_without_a_click(portal: Portal, tab: Page) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    for order in ("3042417938137300", "3042417938137404", "3042417938137305"):  # shipped, closed, done
        with pytest.raises(NotEligibleError) as info:
            await cancel_order(tab, env, order, reason="wrong_product", comment=None,
                               before_submit=nothing_to_record)
        assert info.value.context["order_id"] == order
        counts = portal.counts(order)
        assert counts["count"] == 0 and counts["invalid"] == 0 and counts["blocked"] == 0
        assert not await env.pack.present(tab, "cancel_dialog")  # the dialog was never opened


@pytest.mark.parametrize(("portal", "locale"), [("a", "force"), ("b", None)], indirect=["portal"],
                         ids=["english-forced", "german-pages"])
async def test_german_account(portal: Portal, tab: Page, tmp_path: Path, locale: str | None) -> None:
    env = portal.env(tmp_path / "case")
    order = "3043000000000100"
    await log_in(tab, env, portal.creds(BERND), locale=locale)
    lang = await tab.locator("html").get_attribute("lang")
    assert lang == ("en" if locale else "de")
    result = await cancel_order(tab, env, order, reason="out_of_stock", comment="Bitte stornieren",
                                before_submit=nothing_to_record)
    assert result.status_after is OrderStatus.CANCEL_REQUESTED
    if locale is None:
        assert result.status_text == "Stornierung angefragt"
    assert portal.counts(order)["accepted"] == 1
    assert verify_manifest(tmp_path / "case") == []


@ONLY_A
async def test_dry_run_reads_but_never_submits(portal: Portal, tab: Page) -> None:
    env = portal.env(dry_run=True)
    await log_in(tab, env, portal.creds(ANN))
    result = await cancel_order(tab, env, "3042417938137200", reason="wrong_product", comment=None,
                                before_submit=nothing_to_record)
    assert not result.submitted and result.status_after is OrderStatus.AWAITING_SHIPMENT
    assert portal.counts("3042417938137200")["count"] == 0


async def _seller_refuses_at_once(portal: Portal, tab: Page) -> None:
    """Let the Confirm POST through, then let an hour of sandbox time pass before the browser
    follows the redirect: the seller's refusal lands before the flow can read the status."""

    async def handle(route: Route) -> None:
        answer = await route.fetch(max_redirects=0)
        await asyncio.to_thread(portal.sb.admin.advance, 3600)
        await route.fulfill(response=answer)

    await tab.route("**/p/order/api/cancel*", handle)


@ONLY_A
async def test_refusal_before_the_status_read_still_counts_as_submitted(portal: Portal, tab: Page) -> None:
    env = portal.env()
    order = "3042417938137201"  # the seller refuses cancellations
    await log_in(tab, env, portal.creds(ANN))
    await _seller_refuses_at_once(portal, tab)
    result = await cancel_order(tab, env, order, reason="not_shipped_on_time", comment=None,
                                before_submit=nothing_to_record)
    assert result.submitted and result.mode == "request"
    assert result.status_after is OrderStatus.AWAITING_SHIPMENT  # refused: back to awaiting shipment
    assert portal.sb.admin.order(order)["status"] == "awaiting_shipment"
    assert portal.counts(order)["accepted"] == 1


@ONLY_A
async def test_rereading_after_an_interrupted_submit_never_asks_twice(portal: Portal, tab: Page) -> None:
    """The case of an interrupted submit (intent written, then a crash or an unconfirmed page):
    the seller has refused meanwhile, so the page looks like before the request. The refusal
    note proves the click landed: nothing is sent again."""
    env = portal.env()
    order = "3042417938137201"
    await log_in(tab, env, portal.creds(ANN))
    await _seller_refuses_at_once(portal, tab)
    await cancel_order(tab, env, order, reason="not_shipped_on_time", comment=None,
                       before_submit=nothing_to_record)
    await tab.unroute("**/p/order/api/cancel*")
    called = False

    async def before_submit() -> None:
        nonlocal called
        called = True

    with pytest.raises(AlreadyRequestedError) as info:
        await cancel_order(tab, env, order, reason="not_shipped_on_time", comment=None,
                           before_submit=before_submit, earlier_intent=True)
    assert info.value.context["seller"] == "rejected"
    with pytest.raises(NeedsHumanError):  # a new case on a refused order: a person decides
        await cancel_order(tab, env, order, reason="not_shipped_on_time", comment=None,
                           before_submit=before_submit)
    assert not called
    assert portal.counts(order)["count"] == 1

