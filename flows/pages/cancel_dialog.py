"""The cancel dialog of the order detail page: reason, comment, Submit, then "Are you sure?".

Evidence: one screenshot of the filled dialog ("cancel-filled"); the empty dialog and the
"Are you sure?" pop-up are not photographed (the flow keeps the HTML of the latter).
"""

from __future__ import annotations

from typing import ClassVar

from playwright.async_api import Locator

from bot.errors import PortalUnavailableError
from bot.errors_playwright import playwright_errors
from flows.pages.base import PortalPage


class CancelDialog(PortalPage):
    """`pages.cancel_dialog` of the pack; opened by the detail page's cancel button."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "cancel_comment", "cancel_dialog", "cancel_reason", "cancel_submit", "confirm_button",
        "confirm_dialog", "detail_cancel_button", "detail_request_cancel_button", "page_alert"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def open(self, button_key: str) -> Locator:
        """Click the detail page's cancel button `button_key` and return the dialog."""
        button = await self.find(button_key)
        await self.click(button, "cancel-dialog-opening", snap=False)
        return await self.find("cancel_dialog")  # empty yet: the screenshot is taken once filled

    async def fill(self, dialog: Locator, reason_labels: list[str], comment: str | None) -> None:
        """Pick the reason (its label in any pack language) and type the comment."""
        reason = await self.find("cancel_reason", root=dialog, label=reason_labels)
        with playwright_errors("choosing the cancel reason"):
            await reason.first.check(timeout=self.env.action_ms)
        if comment:
            box = await self.find("cancel_comment", root=dialog)
            with playwright_errors("typing the comment"):
                await box.first.fill(comment)
        await self.snap("cancel-filled")

    async def submit(self, dialog: Locator) -> Locator:
        """Click Submit; return the confirmation pop-up (nothing is sent yet)."""
        await self.click(await self.find("cancel_submit", root=dialog), "cancel-submit", snap=False)
        # no screenshot: the flow captures this page's HTML (the filled dialog and the question)
        # right before Confirm; "cancel-filled" shows the same dialog
        return await self.find("confirm_dialog")

    async def confirm(self, confirm: Locator) -> None:
        """The irreversible click: Confirm. Returns once the answer page has loaded; a 5xx
        answer raises PortalUnavailableError (the caller decides what that means)."""
        button = await self.find("confirm_button", root=confirm)
        await self.wait_overlays()
        with playwright_errors("confirming the cancellation"):
            await button.first.click(timeout=self.env.action_ms)
        await self.settle("cancel-confirmed", snap=False)

    async def alert_text(self) -> str | None:
        """The page's alert line (e.g. "already submitted"), if one is shown."""
        if not await self.has("page_alert"):
            return None
        try:
            return await self.text_of("page_alert")
        except PortalUnavailableError:
            return None
