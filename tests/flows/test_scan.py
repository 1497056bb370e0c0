"""Status scan of many orders of one account in one pass, in both layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from playwright.async_api import Page

from bot.config import Settings
from bot.models import OrderStatus, RefundStatus
from flows.env import FlowEnv
from flows.login import log_in
from flows.pack import load_pack
from flows.refund import RefundRequest, request_refund
from flows.results import nothing_to_record
from flows.scan import scan_statuses
from tests.flows.conftest import ONLY_A, ONLY_B, Portal

ANN = "ann@buyer.test"
PACK = Path(__file__).resolve().parents[2] / "selectors" / "aliexpress.yaml"


@ONLY_A
async def test_scan_many_orders(portal: Portal, tab: Page, evidence_dir: Path) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    await request_refund(tab, env, RefundRequest(
        order_id="3042417938137301", reason="not_received", description="x",
        evidence=[evidence_dir / "photo1.png"], evidence_root=evidence_dir), before_submit=nothing_to_record)
    portal.sb.admin.advance(7200 + 60)  # the seller rejects; the old dispute ends refunded
    orders = portal.sb.admin.state()["orders"]
    mine = sorted((o["placed_at"], oid) for oid, o in orders.items() if o["account"] == ANN)
    oldest = mine[0][1]
    ids = ["3042417938137135", "3042417938137200", "3042417938137401", "3042417938137403",
           "3042417938137301", oldest, "3999999999999999"]
    sent_before = _sent(portal)
    result = await scan_statuses(tab, env, ids, refund_ids=["3042417938137301", "3042417938137401"])
    unpaid = result["3042417938137135"]
    assert unpaid is not None and unpaid.status is OrderStatus.AWAITING_PAYMENT
    expected = {"3042417938137200": OrderStatus.AWAITING_SHIPMENT, "3042417938137403": OrderStatus.CANCELED,
                oldest: OrderStatus.COMPLETED}
    for order_id, status in expected.items():
        got = result[order_id]
        assert got is not None and got.status is status, order_id
    assert result["3999999999999999"] is None
    dispute = result["3042417938137401"]
    assert dispute and dispute.status is OrderStatus.CLOSED and dispute.refund_status is RefundStatus.REFUNDED
    rejected = result["3042417938137301"]
    assert rejected and rejected.refund_status is RefundStatus.REJECTED
    assert _sent(portal) == sent_before  # a scan submits nothing


@ONLY_B
async def test_scan_reads_disputes_from_the_refund_list_in_one_page(portal: Portal, tab: Page) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    before = _pages(portal)
    result = await scan_statuses(tab, env, ["3042417938137401", "3042417938137302"],
                                 refund_ids=["3042417938137401"])
    dispute = result["3042417938137401"]
    assert dispute and dispute.status is OrderStatus.IN_DISPUTE
    assert dispute.refund_status is RefundStatus.WAITING_SELLER
    other = result["3042417938137302"]
    assert other and other.status is OrderStatus.AWAITING_DELIVERY and other.refund_status is None
    assert _pages(portal) - before == 2  # My Orders and the Returns & refunds list; no detail page


@ONLY_A
async def test_an_order_the_refund_list_does_not_show_is_read_from_its_detail_page(
        portal: Portal, tab: Page, tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    data["pages"]["refund_list"]["locators"]["refund_card_with_id"]["alternatives"] = [
        {"kind": "css", "css": ".no-such-card", "has_text": "{order_id}"}]  # as if the list changed
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "variant.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    settings: Settings = portal.settings.model_copy(update={"pack_dir": folder, "portal": "variant"})
    env = FlowEnv(load_pack(settings), settings)
    await log_in(tab, env, portal.creds(ANN))
    before = _pages(portal)
    result = await scan_statuses(tab, env, ["3042417938137401"], refund_ids=["3042417938137401"])
    dispute = result["3042417938137401"]
    assert dispute and dispute.refund_status is RefundStatus.WAITING_SELLER
    assert _pages(portal) - before == 4  # My Orders, the list, then the detail page and the request's tab


def _pages(portal: Portal) -> int:
    return portal.sb.admin.page_loads().get(ANN, {}).get("page", 0)


def _sent(portal: Portal) -> int:
    return sum(s["count"] for s in portal.sb.admin.submissions().values())
