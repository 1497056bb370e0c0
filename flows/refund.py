"""Open a return/refund request for one item line of an order.

Order of events: the evidence files are checked (nothing opened yet); the detail page's status
decides eligibility (a status in `actions.refund_already`, or an item line that already links
to its request, raises AlreadyRequestedError; any status outside `actions.refund`, or a line
without the refund button, NotEligibleError; nothing clicked); the refund tab is opened (the
optional first modal answered); a request shown there also means AlreadyRequestedError. Then
type, reason, amount and description are filled, the evidence uploaded and counted, "Next
step", Submit, `before_submit()`, and the irreversible Confirm; the status line must then show
the request (else SubmitUnconfirmedError).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from loguru import logger
from playwright.async_api import Page

from bot.browser import playwright_errors
from bot.errors import (
    AlreadyRequestedError,
    AmountError,
    NotEligibleError,
    PortalUnavailableError,
    SubmitUnconfirmedError,
)
from bot.models import RefundStatus, RefundType
from flows.env import FlowEnv
from flows.evidence_check import check_evidence
from flows.pages.order_detail import OrderDetailPage
from flows.pages.refund_form import FormState, RefundFormPage
from flows.results import BeforeSubmit, RefundResult
from flows.verify import wait_for_refund_status

OPEN_REQUEST = frozenset(set(RefundStatus) - {RefundStatus.NONE, RefundStatus.UNKNOWN})
"""Any status line that shows a request exists."""


@dataclass(frozen=True)
class RefundRequest:
    """What to ask for. `amount` None keeps the portal's full amount for the line."""

    order_id: str
    reason: str
    description: str
    evidence: list[Path]
    evidence_root: Path
    refund_type: RefundType = RefundType.REFUND_ONLY
    amount: Decimal | None = None
    item_index: int = 0


async def request_refund(page: Page, env: FlowEnv, req: RefundRequest, *,
                         before_submit: BeforeSubmit) -> RefundResult:
    """File the request described by `req` (see the module docstring for the order of events)."""
    files = check_evidence(env, req.evidence, req.evidence_root)
    if req.amount is not None and req.amount <= 0:
        raise AmountError(f"refund amount {req.amount} is not positive", amount=str(req.amount))
    labels = env.pack.refund_reason_labels(req.reason)
    detail = OrderDetailPage(page, env)
    await detail.open(req.order_id)
    status, text = await detail.status()
    item = await detail.item(req.item_index)
    actions = env.pack.model.actions
    if status in actions.refund_already or await detail.has("detail_view_refund", root=item):
        existing, existing_text = await read_refund_status(detail, req.item_index)
        raise AlreadyRequestedError(
            f"order {req.order_id} already has a return/refund request ({existing_text or text}); "
            "nothing submitted", order_id=req.order_id, status=str(status),
            refund_status=str(existing), refund_text=existing_text)
    if status not in actions.refund or not await detail.has("item_refund_button", root=item):
        raise NotEligibleError(
            f"order {req.order_id} is '{text}': no return/refund possible; nothing clicked",
            order_id=req.order_id, status=str(status), status_text=text)
    if env.settings.dry_run:
        return RefundResult(req.order_id, req.item_index, RefundStatus.NONE, "", 0, submitted=False)

    tab = await detail.open_refund_tab(item)
    try:
        form = RefundFormPage(tab, env)
        shown = await form.state()
        if shown is FormState.REQUEST:
            existing, existing_text = await form.request_status()
            raise AlreadyRequestedError(
                f"order {req.order_id}: the form shows '{existing_text}'; nothing submitted",
                order_id=req.order_id, refund_status=str(existing), refund_text=existing_text)
        if shown is FormState.NOT_ELIGIBLE:
            raise NotEligibleError(f"order {req.order_id}: the portal offers no return/refund form",
                                   order_id=req.order_id, portal_message=await form.alert_text())
        await form.fill(req.refund_type, labels, req.amount, req.description)
        uploaded = await form.upload(files)
        await form.next_step()
        await form.open_confirm()
        await form.capture_html("refund-submit")
        await before_submit()
        logger.info("order {}: confirming the return/refund request", req.order_id)
        try:
            await form.confirm()
        except PortalUnavailableError as exc:
            raise SubmitUnconfirmedError(
                f"order {req.order_id}: the portal did not confirm the request ({exc})",
                order_id=req.order_id) from exc
        alert = await form.alert_text()
        if alert and env.pack.matches_any(alert, env.pack.model.messages.already_requested):
            raise AlreadyRequestedError(f"order {req.order_id}: the portal says '{alert}'",
                                        order_id=req.order_id)
        refund, refund_text = await wait_for_refund_status(form, OPEN_REQUEST, order_id=req.order_id)
        await form.snap("refund-result")
        await form.capture_html("refund-confirmed")
        return RefundResult(req.order_id, req.item_index, refund, refund_text, uploaded, submitted=True)
    finally:
        with playwright_errors("closing the return/refund tab"):
            await tab.close()


async def read_refund_status(detail: OrderDetailPage, item_index: int) -> tuple[RefundStatus, str]:
    """The refund status of an item line that links to its request ("View refund"): opened in
    its tab, read, tab closed. (NONE, "") when the line has no request."""
    item = await detail.item(item_index)
    if not await detail.has("detail_view_refund", root=item):
        return RefundStatus.NONE, ""
    tab = await detail.open_refund_tab(item, "detail_view_refund")
    try:
        form = RefundFormPage(tab, env=detail.env)
        if await form.state() is not FormState.REQUEST:
            return RefundStatus.NONE, ""
        return await form.request_status()
    finally:
        with playwright_errors("closing the refund tab"):
            await tab.close()
