"""Locator building with ordered fallbacks, on real Chromium with small static pages."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page

from bot.config import Settings
from bot.errors import LocatorMissingError, PackError
from flows.pack import Pack, load_pack


@pytest.fixture
def pack() -> Pack:
    return load_pack(Settings(action_timeout_ms=600))


async def test_first_matching_alternative_wins(page: Page, pack: Pack) -> None:
    await page.set_content("""
      <div class="order-item"><div class="order-item-header-status-text">Awaiting shipment</div></div>
      <div class="order-item"><div data-pl="order_item_header_status">Canceled</div></div>""")
    # card 1 only has the class-name fallback (index 1), card 2 the data-pl hook (index 0)
    cards = page.locator(".order-item")
    assert await pack.probe(cards.nth(0), "card_status") == 1
    assert await pack.probe(cards.nth(1), "card_status") == 0
    found = await pack.resolve(cards.nth(0), "card_status")
    assert pack.order_status(await found.inner_text()).value == "awaiting_shipment"


async def test_hidden_match_is_skipped_for_visible_entries(page: Page, pack: Pack) -> None:
    await page.set_content("""
      <button class="login-submit" type="submit" style="display:none">Sign in</button>
      <button type="button">Sign in</button>""")
    assert await pack.probe(page, "login_submit") == 1
    button = await pack.resolve(page, "login_submit")
    assert await button.get_attribute("type") == "button"


async def test_text_alternatives_match_either_language(page: Page, pack: Pack) -> None:
    await page.set_content("<button>Bestellung stornieren</button>")
    assert await pack.probe(page, "detail_cancel_button") == 0
    await page.set_content("<button>Cancel order now</button>")  # exact names only
    assert await pack.probe(page, "detail_cancel_button") is None


async def test_resolve_waits_for_a_late_element(page: Page, pack: Pack) -> None:
    await page.set_content("""<script>
      setTimeout(() => { const b = document.createElement('div'); b.className = 'comet-v2-select-show-arrow';
        b.textContent = 'Select a reason'; document.body.appendChild(b); }, 200);</script>""")
    found = await pack.resolve(page, "refund_reason_select", timeout_ms=5000)
    assert await found.inner_text() == "Select a reason"


async def test_missing_locator_names_key_and_alternatives(page: Page, pack: Pack) -> None:
    await page.set_content("<p>nothing here</p>")
    started = time.monotonic()
    with pytest.raises(LocatorMissingError) as info:
        await pack.resolve(page, "refund_submit")
    assert time.monotonic() - started < 5
    assert info.value.context["key"] == "refund_submit"
    assert "buyersubmit_btn_submit" in str(info.value) and "Submit" in str(info.value)


async def test_parameters_fill_templates(page: Page, pack: Pack) -> None:
    await page.set_content("""
      <div class="order-item">Order ID: 3042417938137135 Copy</div>
      <div class="order-item">Order ID: 3042417938137136 Copy</div>
      <div role="dialog" class="comet-modal">
        <label><input type="radio" name="reason" value="a"> I placed a duplicate order</label>
        <label><input type="radio" name="reason" value="b"> I ordered the wrong product(s)</label>
      </div>""")
    card = await pack.resolve(page, "order_card_with_id", order_id="3042417938137136")
    assert await card.count() == 1 and "136" in await card.inner_text()
    dialog = await pack.resolve(page, "cancel_dialog")
    radio = await pack.resolve(dialog, "cancel_reason", label=pack.cancel_reason_labels("wrong_product"))
    assert await radio.get_attribute("value") == "b"
    with pytest.raises(PackError, match="needs parameter"):
        pack.alternatives(page, "cancel_reason")


async def test_attached_state_finds_hidden_file_input(page: Page, pack: Pack) -> None:
    await page.set_content('<input type="file" style="display:none" multiple>')
    assert await pack.probe(page, "refund_file_input") == 0


async def test_texts_with_slashes_and_regex_characters(page: Page, pack: Pack) -> None:
    await page.set_content("<div><button>Returns/refunds</button></div>")
    assert await pack.probe(page, "item_refund_button") == 0
    await page.set_content("<label><input type=checkbox> I don't agree with above solution(s)</label>")
    assert await pack.probe(page, "offer_disagree") == 0


async def test_every_text_alternative_is_a_valid_selector(page: Page, pack: Pack) -> None:
    """Each alternative of every locator builds a selector Chromium accepts (probing must not raise)."""
    await page.set_content("<p>empty</p>")
    for key in pack.locator_keys():
        params = {p: ["x/y (z)", "a.b*"] for p in pack.entry(key).params}
        assert await pack.probe(page, key, **params) is None, key


async def test_cookie_accept_never_matches_an_offer_accept_button(page: Page, pack: Pack) -> None:
    await page.set_content("<button>Accept</button><button>Annehmen</button><button>Akzeptieren</button>")
    assert await pack.probe(page, "cookie_accept") is None
    await page.set_content(
        "<div class='gdpr-banner'><button class='btn-accept'>Accept cookies</button></div>")
    assert await pack.probe(page, "cookie_accept") == 0
