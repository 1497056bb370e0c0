"""The order detail page: status headline, cancel buttons, item lines with their refund links."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from playwright.async_api import Locator, Page

from bot.errors import LocatorMissingError, OrderNotFoundError, PortalUnavailableError
from bot.errors_playwright import playwright_errors
from bot.models import OrderStatus
from flows.pages.base import PortalPage


class OrderDetailPage(PortalPage):
    """`pages.order_detail` of the pack."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "detail_info_row", "detail_item", "detail_status", "detail_status_note", "detail_view_refund",
        "item_refund_button", "refund_first_modal", "refund_first_modal_continue"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def open(self, order_id: str) -> None:
        """Load the detail page of `order_id`; OrderNotFoundError when the portal does not know it."""
        status = await self.goto(self.pack.url("order_detail", order_id=order_id), "order-detail")
        if status == 404:
            raise OrderNotFoundError(f"the portal has no order {order_id} for this account",
                                     order_id=order_id)
        await self.find("detail_status", timeout_ms=self.env.navigation_ms)

    async def status(self) -> tuple[OrderStatus, str]:
        """The canonical status and the raw headline text."""
        text = await self.text_of("detail_status")
        return self.pack.order_status(text), text

    async def order_id(self) -> str | None:
        """The order id the page's info rows show (the pack's order id pattern), or None when
        the page has no info rows or none carries an id."""
        if not await self.has("detail_info_row"):
            return None
        rows = self.pack.locator(self.page, "detail_info_row")
        with playwright_errors("reading the order's info rows"):
            texts = await rows.all_inner_texts()
        for text in texts:
            match = self.pack.order_id_re.search(text)
            if match:
                return match.group(1)
        return None

    async def cancel_was_rejected(self) -> bool:
        """Does a note under the headline say the seller refused a cancellation request?
        (The order is then back in "Awaiting shipment": only this note shows a request was sent.)"""
        if not await self.has("detail_status_note"):
            return False
        notes = self.pack.locator(self.page, "detail_status_note")
        with playwright_errors("reading the status notes"):
            texts = await notes.all_inner_texts()
        rejected = self.pack.model.messages.cancel_rejected
        return any(self.pack.matches_any(text, rejected) for text in texts)

    async def item_count(self) -> int:
        """How many item lines the order shows (LocatorMissingError when none shows)."""
        await self.find("detail_item")
        with playwright_errors("counting item lines"):
            return await self.pack.locator(self.page, "detail_item").count()

    async def item(self, index: int) -> Locator:
        """The item line `index` (0-based); LocatorMissingError when there is no such line."""
        await self.find("detail_item")
        items = self.pack.locator(self.page, "detail_item")
        with playwright_errors("counting item lines"):
            count = await items.count()
        if index >= count:
            raise LocatorMissingError(f"the order has {count} item line(s), no line {index + 1}",
                                      key="detail_item", index=index)
        return items.nth(index)

    async def open_refund_tab(self, item: Locator, key: str = "item_refund_button") -> Page:
        """Click the item's refund button (or `detail_view_refund`) and return the new tab.

        When a first modal ("Have you received the item?") appears instead, its non-primary
        answer ("No" on the real site) is clicked and the tab that then opens is returned.
        Raises LocatorMissingError when the item has no such button, PortalUnavailableError when
        no tab opens in time.
        """
        button = await self.find(key, root=item)
        context = self.page.context
        await self.wait_overlays()
        tab_task = asyncio.ensure_future(context.wait_for_event("page", timeout=self.env.navigation_ms))
        try:
            with playwright_errors("opening the return/refund form"):
                await button.first.click(timeout=self.env.action_ms)
            modal = self.pack.locator(self.page, "refund_first_modal").first
            modal_task = asyncio.ensure_future(modal.wait_for(state="visible", timeout=self.env.action_ms))
            done, _ = await asyncio.wait({tab_task, modal_task}, return_when=asyncio.FIRST_COMPLETED)
            if tab_task not in done and modal_task in done and modal_task.exception() is None:
                await self.snap("refund-first-modal")
                answer = await self.find("refund_first_modal_continue", root=modal)
                with playwright_errors("answering the first modal"):
                    await answer.first.click(timeout=self.env.action_ms)
            if not modal_task.done():
                modal_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await modal_task
            with playwright_errors("waiting for the return/refund tab"):
                tab: Page = await tab_task
        except BaseException:
            tab_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await tab_task
            raise
        if tab is None:
            raise PortalUnavailableError("the return/refund form did not open")
        with playwright_errors("loading the return/refund tab"):
            # a new tab starts as about:blank, whose load state would satisfy the wait at once
            await tab.wait_for_url(lambda url: url != "about:blank", wait_until="domcontentloaded",
                                   timeout=self.env.navigation_ms)
        return tab
