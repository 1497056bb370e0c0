"""`selectors check` on both layouts: the shipped pack passes (with fallbacks in layout B), and
a pack whose only alternative for one key exists in layout A alone is reported broken in B."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import Page

from bot.config import Settings
from flows.check import check_selectors, render_report
from flows.env import FlowEnv
from flows.pack import load_pack
from tests.flows.conftest import Portal

ANN = "ann@buyer.test"
PACK = Path(__file__).resolve().parents[2] / "selectors" / "aliexpress.yaml"


async def test_shipped_pack_passes_in_both_layouts(portal: Portal, tab: Page) -> None:
    env = portal.env()
    report = await check_selectors(tab, env, portal.creds(ANN), order_id="3042417938137300",
                                   refund_order_id="3042417938137300")
    text = render_report(report)
    assert not report.failed, text
    assert text.startswith("Selector check of aliexpress") and "OK" in text.splitlines()[0]
    by_page = {p.page: p for p in report.pages}
    for name in ("login", "order_list", "order_detail", "refund_list", "refund_form"):
        assert by_page[name].visited and by_page[name].locators, name
    assert not by_page["cancel_dialog"].visited
    found = {loc.key: loc for p in report.pages for loc in p.locators}
    assert found["card_status"].index == 0  # the data-pl hook comes first
    assert found["refund_status_line"].index is None  # optional: no request yet
    assert found["refund_reason_select"].index == 0
    assert found["detail_info_row"].index == (0 if portal.layout == "a" else 1)  # layout B: fallback
    assert portal.counts("3042417938137300")["count"] == 0  # the check never submits


def _variant(tmp_path: Path, portal: Portal) -> FlowEnv:
    data: dict[str, Any] = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    data["pages"]["order_list"]["locators"]["card_status"]["alternatives"] = [
        {"kind": "css", "css": ".order-item-header-status-text"}]  # a layout-A class name only
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "variant.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    settings: Settings = portal.settings.model_copy(update={"pack_dir": folder, "portal": "variant"})
    return FlowEnv(load_pack(settings), settings)


async def test_check_reports_a_locator_layout_b_broke(portal: Portal, tab: Page, tmp_path: Path) -> None:
    env = _variant(tmp_path, portal)
    report = await check_selectors(tab, env, portal.creds(ANN))
    text = render_report(report)
    if portal.layout == "a":
        assert not report.failed, text
        return
    assert report.failed
    assert [(page, loc.key) for page, loc in report.missing] == [("order_list", "card_status")]
    assert "FAILED, 1 required locator(s) found nothing" in text
    assert any(line.startswith("  MISS  card_status") and ".order-item-header-status-text" in line
               for line in text.splitlines())


@pytest.mark.parametrize("email", ["erik@buyer.test"])
async def test_check_reports_a_page_it_could_not_open(portal_a: Portal, tab: Page, email: str) -> None:
    report = await check_selectors(tab, portal_a.env(), portal_a.creds(email))
    assert report.failed
    assert "ChallengeRequiredError" in render_report(report)
