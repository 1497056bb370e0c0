"""Conformance: every selector and text the public bot AliRefundClaimer uses on the REAL site
resolves on the sandbox's pages, in both layouts.

The facts are DATA (`tests/fixtures/alirefundclaimer_facts.yaml`, sources in sandbox/CONTRACT.md).
The test walks the bot's own path with real Chromium: sign in the way it does (email, Enter,
password, Enter; a German account lands on the locale home), My Orders, an order with two item
lines whose "Returns/refunds" buttons each open a tab, the first modal answered "No", the form
filled and confirmed on both lines (the second line is still accepted after the first: counted
per item by the sandbox), the review title, "Refund complete", and the counter-proposal answered
with the disagree box and the evidence pop-up until "Waiting for AliExpress's feedback". At each
stage every fact of that stage must resolve (strict ones exactly once); at the end every fact of
the file must have been checked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import Browser, Page, expect

from sandbox.server import RunningSandbox
from tests.sandbox.helpers import ORDERS, png_bytes

pytestmark = pytest.mark.e2e

FACTS_FILE = Path(__file__).parents[1] / "fixtures" / "alirefundclaimer_facts.yaml"
HASHED = re.compile(r"\.([A-Za-z]+--[A-Za-z]+--)[A-Za-z0-9]{7}(?![A-Za-z0-9])")
ANN, BERND = "ann@buyer.test", "bernd@kaeufer.test"
TWO_LINES, FIRST_MODAL = "3042417938137300", "3042417938137302"


def load_facts() -> list[dict[str, Any]]:
    data = yaml.safe_load(FACTS_FILE.read_text(encoding="utf-8"))
    facts: list[dict[str, Any]] = data["facts"]
    assert data["repo"] == "Infraviored/AliRefundClaimer"
    assert len({f["id"] for f in facts}) == len(facts), "fact ids must be unique"
    return facts


def on_sandbox(selector: str) -> str:
    """The bot's selector with each hashed CSS-module name matched by its prefix (the hash of
    the real site changes per deploy, the sandbox's per start)."""
    return HASHED.sub(lambda m: f'[class*="{m.group(1)}"]', selector)


def test_hashed_names_become_prefixes() -> None:
    assert on_sandbox('.reminder--statusStr--3FMxRSU:has-text("Refund complete")') == (
        '[class*="reminder--statusStr--"]:has-text("Refund complete")')
    assert on_sandbox(".upload--imageContainer--3tTIByI .upload--imageThumb--1diFoUj[style]") == (
        '[class*="upload--imageContainer--"] [class*="upload--imageThumb--"][style]')
    assert on_sandbox(".comet-v2-select-show-arrow") == ".comet-v2-select-show-arrow"


class Facts:
    """Checks the facts of one stage on a page and remembers which were checked."""

    def __init__(self) -> None:
        self.all = load_facts()
        self.checked: set[str] = set()

    async def stage(self, page: Page, step: str, *, items: int = 0) -> None:
        facts = [f for f in self.all if f["step"] == step]
        assert facts, f"no fact for stage {step!r}"
        for fact in facts:
            await self._check(page, fact, items)
            self.checked.add(fact["id"])

    async def _check(self, page: Page, fact: dict[str, Any], items: int) -> None:
        kind, why = fact["expect"], f"{fact['id']}: {fact['selector']} ({fact['source']})"
        if kind == "url":
            assert f"/{fact['text']}" in page.url or fact["text"] in page.url, f"{why}; url {page.url}"
            return
        locator = page.locator(on_sandbox(fact["selector"]))
        if kind == "visible":
            await expect(locator.first, why).to_be_visible()
        elif kind == "attached":
            await expect(locator.first, why).to_be_attached()
        elif kind == "count_items":
            await expect(locator, why).to_have_count(items)
        else:
            raise AssertionError(f"unknown expect {kind!r} in {fact['id']}")
        if fact.get("strict"):
            await expect(locator, f"{why}: the bot needs exactly one").to_have_count(1)

    def missed(self) -> list[str]:
        return [f["id"] for f in self.all if f["id"] not in self.checked]


async def _file_refund(tab: Page, facts: Facts, evidence: Path) -> None:
    """The bot's form steps: reason, description, image, Next step, Submit, Confirm."""
    await facts.stage(tab, "refund_tab")
    await tab.wait_for_load_state()
    await facts.stage(tab, "form")
    await tab.locator(".comet-v2-select-show-arrow").first.click()
    await facts.stage(tab, "form_open")
    reason = '.comet-v2-menu-item:has-text("Tracked as returned/canceled/lost")'
    await tab.locator(on_sandbox(reason)).first.click()
    await tab.locator(on_sandbox(".commet--textarea--Sg0xapL")).first.fill("Returned to sender.")
    await tab.locator('input[type="file"]').first.set_input_files(str(evidence))
    await facts.stage(tab, "form_uploaded")
    await tab.locator('button:has-text("Next step")').click()
    await facts.stage(tab, "summary")
    await tab.locator('button[data-pl="buyersubmit_btn_submit"]:has-text("Submit")').first.click()
    await facts.stage(tab, "confirm_modal")
    await tab.locator('.comet-v2-modal-footer button:has-text("Confirm")').first.click()
    await expect(tab.locator('[class*="reminder--statusStr--"]')).to_be_visible()


async def _sign_in_like_the_bot(page: Page, sb: RunningSandbox, email: str, facts: Facts | None) -> None:
    """login.aliexpress.com opened directly: email, Enter, password, Enter."""
    password = sb.scenario.account(email).password
    await page.goto(sb.url + "/login/")
    if facts:
        await facts.stage(page, "login")
    await page.locator('input[type="text"]').fill(email)
    await page.keyboard.press("Enter")
    if facts:
        await facts.stage(page, "login_password")
    await page.locator('input[type="password"]').fill(password)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/(de|www)/$"))


@pytest.mark.parametrize("layout", ["a", "b"])
async def test_alirefundclaimer_selectors_resolve(
        layout: str, request: pytest.FixtureRequest, browser: Browser, tmp_path: Path) -> None:
    sb: RunningSandbox = request.getfixturevalue("sandbox" if layout == "a" else "sandbox_b")
    sb.admin.reset()
    facts = Facts()
    evidence = tmp_path / "hermes_return_page.png"
    evidence.write_bytes(png_bytes(24, 24))

    # a German account lands on the locale host (the sandbox: /de/)
    german = await browser.new_context()
    try:
        page = await german.new_page()
        await _sign_in_like_the_bot(page, sb, BERND, facts)
        await facts.stage(page, "landing")
    finally:
        await german.close()

    context = await browser.new_context(locale="en-US")
    try:
        page = await context.new_page()
        await _sign_in_like_the_bot(page, sb, ANN, None)
        assert page.url.endswith("/www/")
        await page.goto(sb.url + ORDERS)
        await facts.stage(page, "orders")
        await page.locator(".btn-accept").click()

        # two item lines: every "Returns/refunds" button opens its own tab
        await page.goto(f"{sb.url}/p/order/detail.html?orderId={TWO_LINES}")
        await facts.stage(page, "detail", items=2)
        tabs = []
        for button in await page.locator('button.comet-btn:has-text("Returns/refunds")').all():
            async with context.expect_page() as opened:
                await button.click()
            tabs.append(await opened.value)
        assert len(tabs) == 2
        await _file_refund(tabs[0], facts, evidence)
        await facts.stage(tabs[0], "waiting_seller")
        await tabs[1].reload()  # line 2 is still open for its own request after line 1
        await _file_refund(tabs[1], facts, evidence)
        counts = sb.admin.submissions(TWO_LINES)
        assert counts["accepted"] == 2
        assert {k: v["accepted"] for k, v in counts["by_item"].items()} == {"1": 1, "2": 1}

        # the first modal is answered "No"; the seller will counter
        await page.goto(f"{sb.url}/p/order/detail.html?orderId={FIRST_MODAL}")
        await page.locator('button.comet-btn:has-text("Returns/refunds")').first.click()
        await facts.stage(page, "first_modal")
        async with context.expect_page() as opened:
            await page.locator(on_sandbox(
                '.comet-modal button.comet-btn:not(.comet-btn-primary):has-text("No")')).first.click()
        offer_tab = await opened.value
        await _file_refund(offer_tab, facts, evidence)

        sb.admin.advance(7300)  # TWO_LINES: refunded; FIRST_MODAL: counter-proposal
        await tabs[0].reload()
        await facts.stage(tabs[0], "refunded")
        await offer_tab.reload()
        await facts.stage(offer_tab, "waiting_buyer")
        await offer_tab.locator('button:has-text("View possible solutions")').first.click()
        await facts.stage(offer_tab, "solutions")
        await offer_tab.locator(on_sandbox(
            ".cco--checkTitle--Gzot0Aj:has-text(\"I don't agree with above solution(s)\")")).first.click()
        await facts.stage(offer_tab, "disagreed")
        await offer_tab.locator('button:has-text("Upload more photos/videos")').first.click()
        await facts.stage(offer_tab, "evidence_modal")
        await offer_tab.locator(on_sandbox(".evidence--textarea--2LZFL8b")).first.fill("I do not agree.")
        await offer_tab.locator('input[type="file"][accept*="image"]').first.set_input_files(str(evidence))
        await facts.stage(offer_tab, "evidence_uploaded")
        await offer_tab.locator(".comet-v2-modal-footer button.comet-v2-btn-primary").first.click()
        await facts.stage(offer_tab, "escalated")
        assert sb.admin.order(FIRST_MODAL)["refunds"]["1"]["status"] == "escalated"
    finally:
        await context.close()
    assert facts.missed() == [], f"facts never checked: {facts.missed()}"
