"""The return/refund form (a tab of its own): existing request, or the form to fill and submit.

Evidence: screenshots of the filled form ("refund-filled", or the upload's "evidence-uploaded"
when files are uploaded) and of the summary ("refund-summary"); the still empty form and the
confirmation pop-up are not photographed (the flow keeps the HTML of the latter).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import AmountError, EvidenceError, InputError, LocatorMissingError
from bot.errors_playwright import playwright_errors
from bot.models import RefundStatus, RefundType
from flows.pages.base import PortalPage
from flows.pages.upload import Uploader, UploadKeys


class FormState(StrEnum):
    """What the refund tab shows."""

    FORM = "form"
    REQUEST = "request"
    NOT_ELIGIBLE = "not_eligible"


class RefundFormPage(PortalPage):
    """`pages.refund_form` of the pack."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "page_alert", "refund_amount", "refund_confirm", "refund_description", "refund_file_input",
        "refund_form_error", "refund_next", "refund_reason_option", "refund_reason_select",
        "refund_status_line", "refund_submit", "refund_thumb", "refund_type_option",
        "refund_upload_error", "upload_remove"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def state(self) -> FormState:
        """Wait for the tab to show a request's status line, the form, or a refusal."""
        await self.settle("refund-tab", snap=False)  # still loading; a failure captures it
        shown = (self.pack.locator(self.page, "refund_status_line")
                 .or_(self.pack.locator(self.page, "refund_reason_select"))
                 .or_(self.pack.locator(self.page, "page_alert")))
        with playwright_errors("waiting for the return/refund form"):
            try:
                await shown.first.wait_for(state="visible", timeout=self.env.navigation_ms)
            except PlaywrightTimeoutError:
                await self.check_blockers()
                raise LocatorMissingError("the return/refund tab shows neither a form nor a request",
                                          key="refund_reason_select") from None
        if await self.has("refund_status_line"):
            return FormState.REQUEST
        if await self.has("refund_reason_select"):
            return FormState.FORM
        return FormState.NOT_ELIGIBLE

    async def request_status(self) -> tuple[RefundStatus, str]:
        """The status line of an existing request (canonical, raw)."""
        text = await self.text_of("refund_status_line")
        return self.pack.refund_status(text), text

    async def fill(self, refund_type: RefundType, reason_labels: list[str], amount: Decimal | None,
                   description: str, *, snap: bool = True) -> None:
        """Refund type, reason (any pack language), amount (None keeps the portal's full amount)
        and the description; then the screenshot "refund-filled" unless `snap` is False (the
        upload's "evidence-uploaded" shows the same form with the thumbnails)."""
        if await self.has("refund_type_option", value=refund_type.value):
            option = await self.find("refund_type_option", value=refund_type.value)
            with playwright_errors("choosing the refund type"):
                await option.first.check(timeout=self.env.action_ms)
        select = await self.find("refund_reason_select")
        await self.click(select, "refund-reason-open", snap=False)
        option = await self.find("refund_reason_option", label=reason_labels)
        await self.click(option, "refund-reason", snap=False)
        if amount is not None:
            box = await self.find("refund_amount")
            with playwright_errors("typing the amount"):
                await box.first.fill(f"{amount:.2f}")
        text = await self.find("refund_description")
        with playwright_errors("typing the description"):
            await text.first.fill(description)
        if snap:
            await self.snap("refund-filled")

    async def upload(self, files: list[Path]) -> int:
        """Upload the evidence; see :class:`flows.pages.upload.Uploader`."""
        return await Uploader(self, None, UploadKeys("refund_file_input", "refund_thumb")).upload(files)

    async def next_step(self) -> None:
        """Click "Next step"; a validation error of the form raises AmountError, EvidenceError or
        InputError with the portal's text."""
        await self.click(await self.find("refund_next"), "refund-next", snap=False)
        answer = self.pack.locator(self.page, "refund_submit").or_(
            self.pack.locator(self.page, "refund_form_error"))
        with playwright_errors("waiting for the summary"):
            await answer.first.wait_for(state="visible", timeout=self.env.action_ms)
        if await self.has("refund_form_error"):
            message = await self.text_of("refund_form_error")
            messages = self.pack.model
            if self.pack.matches_any(message, messages.messages.amount_invalid):
                raise AmountError(f"the portal refused the amount: {message}")
            if self.pack.matches_any(message, messages.evidence.none_error):
                raise EvidenceError(f"the portal wants evidence: {message}")
            raise InputError(f"the portal refused the form: {message}")
        await self.snap("refund-summary")

    async def open_confirm(self) -> None:
        """Click Submit (opens the confirmation; nothing is sent yet)."""
        await self.click(await self.find("refund_submit"), "refund-submit", snap=False)
        await self.find("refund_confirm")  # no screenshot: "refund-summary" shows what is sent,
        # and the flow keeps this page's HTML right before Confirm

    async def confirm(self) -> None:
        """The irreversible click: Confirm. Returns once the answer page loaded (a 5xx raises
        PortalUnavailableError; the caller decides what that means)."""
        button = await self.find("refund_confirm")
        await self.wait_overlays()
        with playwright_errors("confirming the return/refund request"):
            await button.first.click(timeout=self.env.action_ms)
        await self.settle("refund-confirmed", snap=False)

    async def alert_text(self) -> str | None:
        """The page's alert line, if any."""
        if not await self.has("page_alert"):
            return None
        return await self.text_of("page_alert")
