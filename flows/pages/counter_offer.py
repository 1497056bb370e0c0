"""The seller's counter-proposal panel on the refund page ("Waiting for your response")."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from playwright.async_api import Locator

from bot.errors import LocatorMissingError
from bot.errors_playwright import playwright_errors
from flows.money import parse_money
from flows.pages.base import PortalPage
from flows.pages.upload import Uploader, UploadKeys


class CounterOfferPanel(PortalPage):
    """`pages.counter_offer` of the pack (on the refund tab)."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "offer_accept", "offer_disagree", "offer_file_input", "offer_message", "offer_modal",
        "offer_modal_submit", "offer_text", "offer_thumb", "offer_upload_more", "offer_view_solutions",
        "refund_upload_error", "upload_remove"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def open(self) -> None:
        """Click "View possible solutions" to show the offer."""
        await self.click(await self.find("offer_view_solutions"), "offer-solutions", snap=False)
        await self.find("offer_text")
        await self.snap("offer-shown")

    async def offered_amount(self) -> tuple[Decimal, str]:
        """The amount the seller offers, and the offer's text; LocatorMissingError when the text
        carries no amount."""
        text = await self.text_of("offer_text")
        amount = parse_money(text, self.pack.money_re)
        if amount is None:
            raise LocatorMissingError(f"no amount in the offer text '{text}'", key="offer_text")
        return amount, text

    async def accept(self) -> None:
        """The irreversible click: Accept. A 5xx answer raises PortalUnavailableError."""
        button = await self.find("offer_accept")
        await self.wait_overlays()
        with playwright_errors("accepting the offer"):
            await button.first.click(timeout=self.env.action_ms)
        await self.settle("offer-accepted", snap=False)

    async def prepare_disagreement(self, message: str, files: list[Path]) -> tuple[Locator, int]:
        """Tick "I don't agree", open "Upload more photos/videos", type the message and upload
        the files. Returns the modal (not submitted yet) and the number of uploads shown."""
        box = await self.find("offer_disagree")
        with playwright_errors("ticking 'I don't agree'"):
            await box.first.check(timeout=self.env.action_ms)
        await self.click(await self.find("offer_upload_more"), "offer-upload-more", snap=False)
        modal = await self.find("offer_modal")
        text = await self.find("offer_message", root=modal)
        with playwright_errors("typing the message"):
            await text.first.fill(message)
        uploaded = await Uploader(self, modal, UploadKeys("offer_file_input", "offer_thumb")).upload(files)
        await self.snap("offer-disagree-filled")
        return modal, uploaded

    async def submit_disagreement(self, modal: Locator) -> None:
        """The irreversible click: the modal's primary button. A 5xx answer raises
        PortalUnavailableError."""
        button = await self.find("offer_modal_submit", root=modal)
        await self.wait_overlays()
        with playwright_errors("sending the disagreement"):
            await button.first.click(timeout=self.env.action_ms)
        await self.settle("offer-disagreed", snap=False)
