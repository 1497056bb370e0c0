"""Returns & refunds: the list of the account's return/refund requests, one card each."""

from __future__ import annotations

from typing import ClassVar

from bot.errors_playwright import playwright_errors
from bot.models import RefundStatus
from flows.pages.base import PortalPage


class RefundListPage(PortalPage):
    """`pages.refund_list` of the pack."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "refund_card_status", "refund_card_with_id", "refund_list_root"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def open(self) -> None:
        """Load the list; LocatorMissingError when the page has no list (e.g. it changed)."""
        await self.goto(self.pack.url("refund_list"), "refund-list")
        await self.find("refund_list_root", timeout_ms=self.env.navigation_ms)

    async def status_of(self, order_id: str) -> tuple[RefundStatus, str] | None:
        """The status of the first request card of `order_id`, or None when the list shows no
        card for it, or one whose status text the pack does not know (read it elsewhere then)."""
        cards = self.pack.locator(self.page, "refund_card_with_id", order_id=order_id)
        with playwright_errors("looking for the request card"):
            if await cards.count() == 0:
                return None
        card = cards.first
        if not await self.has("refund_card_status", root=card):
            return None
        text = await self.text_of("refund_card_status", root=card)
        status = self.pack.refund_status(text)
        return None if status is RefundStatus.UNKNOWN else (status, text)
