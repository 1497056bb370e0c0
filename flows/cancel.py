"""Cancel an order: decide from the status, fill the dialog, submit once, verify on the page.

Decision (the pack's `actions` table): a status in `cancel_direct` gets "Cancel order", one in
`cancel_request` gets "Request order cancellation" (the seller must agree), one in
`cancel_already` raises AlreadyRequestedError and anything else NotEligibleError, both before
anything is clicked. `before_submit()` is awaited right before the one irreversible click
(Confirm); after it, any failure to see the new status within `confirm_timeout_ms` raises
SubmitUnconfirmedError (the next attempt reads the order again before sending anything).

A seller may refuse a cancellation request within moments: the order is then back in
"Awaiting shipment" and only the pack's `messages.cancel_rejected` note under the headline shows
that a request was sent. That note counts as the request's trace everywhere: after our Confirm
it confirms the submit; on a re-read after an interrupted submit (`earlier_intent`) it means the
earlier click landed (AlreadyRequestedError, nothing sent again); on a first attempt it means
someone already asked and was refused, and asking again is a person's decision (NeedsHumanError).
"""

from __future__ import annotations

from typing import Literal

from loguru import logger
from playwright.async_api import Page

from bot.errors import (
    AlreadyRequestedError,
    LocatorMissingError,
    NeedsHumanError,
    NotEligibleError,
    PortalUnavailableError,
    SubmitUnconfirmedError,
)
from bot.models import OrderStatus
from flows.env import FlowEnv
from flows.pages.cancel_dialog import CancelDialog
from flows.pages.order_detail import OrderDetailPage
from flows.results import BeforeSubmit, CancelResult
from flows.verify import wait_for_order_status


async def cancel_order(page: Page, env: FlowEnv, order_id: str, *, reason: str, comment: str | None,
                       before_submit: BeforeSubmit, earlier_intent: bool = False) -> CancelResult:
    """Cancel `order_id` (or request its cancellation) with the pack's reason key `reason`.

    Returns the status read back from the page after the submit. Raises NotEligibleError /
    AlreadyRequestedError (nothing clicked), SubmitUnconfirmedError, and the usual
    challenge / session / portal errors. With `settings.dry_run` it stops before the dialog.
    `earlier_intent` says an earlier attempt may have clicked Confirm already (see above).
    The evidence captured is on disk when it returns or raises (the pre-submit HTML already
    before Confirm is clicked).
    """
    async with env.evidence_flushed():
        return await _cancel(page, env, order_id, reason=reason, comment=comment,
                             before_submit=before_submit, earlier_intent=earlier_intent)


async def _cancel(page: Page, env: FlowEnv, order_id: str, *, reason: str, comment: str | None,
                  before_submit: BeforeSubmit, earlier_intent: bool) -> CancelResult:
    labels = env.pack.cancel_reason_labels(reason)
    detail = env.page_object(OrderDetailPage, page)
    await detail.open(order_id)
    before, text = await detail.status()
    actions = env.pack.model.actions
    if before in actions.cancel_already:
        raise AlreadyRequestedError(f"order {order_id} already shows '{text}'; nothing submitted",
                                    order_id=order_id, status=str(before), status_text=text)
    mode: Literal["direct", "request"]
    if before in actions.cancel_direct:
        mode, key, expected = "direct", "detail_cancel_button", {OrderStatus.CANCELED}
    elif before in actions.cancel_request:
        mode, key = "request", "detail_request_cancel_button"
        expected = {OrderStatus.CANCEL_REQUESTED, OrderStatus.CANCELED}
        if await detail.cancel_was_rejected():
            if earlier_intent:
                raise AlreadyRequestedError(
                    f"order {order_id}: the seller already refused the cancellation request of an "
                    f"earlier attempt; nothing submitted again", order_id=order_id, status=str(before),
                    status_text=text, seller="rejected")
            raise NeedsHumanError(
                f"order {order_id}: the seller already refused a cancellation request for this order; "
                f"asking again is a person's decision; nothing clicked", order_id=order_id)
    else:
        raise NotEligibleError(f"order {order_id} is '{text}': it cannot be canceled; nothing clicked",
                               order_id=order_id, status=str(before), status_text=text)
    try:
        await detail.find(key)
    except LocatorMissingError:
        raise NotEligibleError(f"order {order_id} is '{text}' but the page offers no cancel button",
                               order_id=order_id, status=str(before), status_text=text) from None
    if env.settings.dry_run:
        return CancelResult(order_id, mode, before, before, text, submitted=False)

    dialog_page = env.page_object(CancelDialog, page)
    dialog = await dialog_page.open(key)
    await dialog_page.fill(dialog, labels, comment)
    confirm = await dialog_page.submit(dialog)
    await dialog_page.capture_html("cancel-submit")
    await env.flush_evidence()  # what is about to be sent is on disk before it is sent
    await before_submit()
    logger.info("order {}: confirming the cancellation ({})", order_id, mode)
    try:
        await dialog_page.confirm(confirm)
    except PortalUnavailableError as exc:
        raise SubmitUnconfirmedError(f"order {order_id}: the portal did not confirm the cancellation "
                                     f"({exc})", order_id=order_id) from exc
    alert = await dialog_page.alert_text()
    if alert and env.pack.matches_any(alert, env.pack.model.messages.already_requested):
        raise AlreadyRequestedError(f"order {order_id}: the portal says '{alert}'", order_id=order_id)
    if alert and env.pack.matches_any(alert, env.pack.model.messages.not_eligible):
        raise NotEligibleError(f"order {order_id}: the portal says '{alert}'", order_id=order_id)
    after, after_text = await _status_after_confirm(detail, mode, expected, order_id)
    await detail.snap("cancel-result")
    await detail.capture_html("cancel-confirmed")
    return CancelResult(order_id, mode, before, after, after_text, submitted=True)


async def _status_after_confirm(detail: OrderDetailPage, mode: str, expected: set[OrderStatus],
                                order_id: str) -> tuple[OrderStatus, str]:
    """The status the page shows after Confirm. A refusal note (absent before the click) means
    the request went through and the seller refused it before we looked: that counts as
    confirmed, without waiting for a status that will not come."""
    if mode == "request" and await detail.cancel_was_rejected():
        logger.info("order {}: the seller refused the cancellation at once", order_id)
        return await detail.status()
    return await wait_for_order_status(detail, expected, order_id=order_id)
