"""Open a return/refund request for one item line of an order.

An order takes one request PER ITEM LINE (like the real site: after line 1 is filed, line 2
can still be filed). Which line: `RefundRequest.item_index` when given (pinned: a reconcile
after a crash names the line its submit intent recorded), else the first line that has the
refund button and no request yet ("View refund").

Order of events: the evidence files are checked (nothing opened yet); the detail page's status
decides eligibility (a status outside `actions.refund` and `actions.refund_already` raises
NotEligibleError; nothing clicked); the line is chosen: a pinned line that shows a request,
every line showing one, or - in a reconcile with no recorded line - any line showing one
raises AlreadyRequestedError; no line with the refund button raises NotEligibleError. The
chosen line is reported to `line_chosen` (before anything is clicked, so the caller can record
it with the submit intent), its refund tab is opened (the optional first modal answered "No");
a request shown there also means AlreadyRequestedError. Then type, reason, amount and
description are filled, the evidence uploaded and counted, "Next step", Submit,
`before_submit()`, and the irreversible Confirm; the status line must then show the request
(else SubmitUnconfirmedError).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

from loguru import logger
from playwright.async_api import Locator, Page

from bot.errors import (
    AlreadyRequestedError,
    AmountError,
    InputError,
    NotEligibleError,
    PortalUnavailableError,
    SubmitUnconfirmedError,
)
from bot.errors_playwright import playwright_errors
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
    item_index: int | None = None
    """The item line, 0-based (a case's 1-based `item_line` minus 1); None: the first line
    without a request (module docstring). A line the order does not have raises InputError."""
    reconcile: bool = False
    """An earlier attempt wrote a submit intent without naming its line: a request on ANY line
    counts as this one's (nothing is filed twice)."""


def _no_line(index: int) -> None:
    """Default `line_chosen`: nobody records the line."""


async def request_refund(page: Page, env: FlowEnv, req: RefundRequest, *,
                         before_submit: BeforeSubmit,
                         line_chosen: Callable[[int], None] = _no_line) -> RefundResult:
    """File the request described by `req` (see the module docstring for the order of events).
    The evidence captured is on disk when it returns or raises (the pre-submit HTML already
    before Confirm is clicked)."""
    async with env.evidence_flushed():
        return await _request(page, env, req, before_submit=before_submit, line_chosen=line_chosen)


async def _request(page: Page, env: FlowEnv, req: RefundRequest, *, before_submit: BeforeSubmit,
                   line_chosen: Callable[[int], None]) -> RefundResult:
    files = check_evidence(env, req.evidence, req.evidence_root)
    if req.amount is not None and req.amount <= 0:
        raise AmountError(f"refund amount {req.amount} is not positive", amount=str(req.amount))
    labels = env.pack.refund_reason_labels(req.reason)
    detail = env.page_object(OrderDetailPage, page)
    await detail.open(req.order_id)
    status, text = await detail.status()
    actions = env.pack.model.actions
    if status not in actions.refund and status not in actions.refund_already:
        raise NotEligibleError(
            f"order {req.order_id} is '{text}': no return/refund possible; nothing clicked",
            order_id=req.order_id, status=str(status), status_text=text)
    index, item = await _choose_line(detail, req, str(status), text)
    line_chosen(index)
    if env.settings.dry_run:
        return RefundResult(req.order_id, index, RefundStatus.NONE, "", 0, submitted=False)

    tab = await detail.open_refund_tab(item)
    try:
        form = env.page_object(RefundFormPage, tab)
        shown = await form.state()
        if shown is FormState.REQUEST:
            existing, existing_text = await form.request_status()
            raise AlreadyRequestedError(
                f"order {req.order_id}: the form shows '{existing_text}'; nothing submitted",
                order_id=req.order_id, refund_status=str(existing), refund_text=existing_text)
        if shown is FormState.NOT_ELIGIBLE:
            raise NotEligibleError(f"order {req.order_id}: the portal offers no return/refund form",
                                   order_id=req.order_id, portal_message=await form.alert_text())
        await form.fill(req.refund_type, labels, req.amount, req.description, snap=not files)
        uploaded = await form.upload(files)
        await form.next_step()
        await form.open_confirm()
        await form.capture_html("refund-submit")
        await env.flush_evidence()  # what is about to be sent is on disk before it is sent
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
        return RefundResult(req.order_id, index, refund, refund_text, uploaded, submitted=True)
    except Exception:
        await env.page_object(RefundFormPage, tab).capture_failure()  # the tab is closed next
        raise
    finally:
        with playwright_errors("closing the return/refund tab"):
            await tab.close()


async def _choose_line(detail: OrderDetailPage, req: RefundRequest, status: str,
                       status_text: str) -> tuple[int, Locator]:
    """The item line this request is for (see the module docstring); raises AlreadyRequestedError
    or NotEligibleError, nothing clicked."""
    count = await detail.item_count()
    if req.item_index is not None:
        if req.item_index >= count:
            raise InputError(
                f"order {req.order_id} has {count} item line(s): there is no line {req.item_index + 1}; "
                "nothing clicked", order_id=req.order_id, item_line=req.item_index + 1, lines=count)
        candidates = [req.item_index]
    else:
        candidates = list(range(count))
    requested = [i for i in range(count)
                 if await detail.has("detail_view_refund", root=await detail.item(i))]
    if req.item_index is not None and req.item_index in requested:
        await _already(detail, req, req.item_index, status, status_text, "its item line")
    if req.item_index is None and req.reconcile and requested:
        await _already(detail, req, requested[0], status, status_text,
                       "an item line (an earlier attempt did not record which)")
    for index in candidates:
        item = await detail.item(index)
        if index not in requested and await detail.has("item_refund_button", root=item):
            return index, item
    mine = [i for i in candidates if i in requested]
    if mine:
        await _already(detail, req, mine[0], status, status_text, "every item line")
    raise NotEligibleError(
        f"order {req.order_id} is '{status_text}': no item line offers a return/refund; nothing clicked",
        order_id=req.order_id, status=status, status_text=status_text)


async def _already(detail: OrderDetailPage, req: RefundRequest, index: int, status: str,
                   status_text: str, where: str) -> NoReturn:
    """Raise AlreadyRequestedError for line `index`, with the status its request shows."""
    existing, existing_text = await read_refund_status(detail, index)
    raise AlreadyRequestedError(
        f"order {req.order_id}: {where} already has a return/refund request "
        f"({existing_text or status_text}); nothing submitted",
        order_id=req.order_id, status=status, item_index=index,
        refund_status=str(existing), refund_text=existing_text)


async def read_refund_status(detail: OrderDetailPage, item_index: int) -> tuple[RefundStatus, str]:
    """The refund status of an item line that links to its request ("View refund"): opened in
    its tab, read, tab closed. (NONE, "") when the line has no request."""
    item = await detail.item(item_index)
    if not await detail.has("detail_view_refund", root=item):
        return RefundStatus.NONE, ""
    tab = await detail.open_refund_tab(item, "detail_view_refund")
    try:
        form = detail.env.page_object(RefundFormPage, tab)
        if await form.state() is not FormState.REQUEST:
            return RefundStatus.NONE, ""
        await form.snap("refund-request-found")
        return await form.request_status()
    finally:
        with playwright_errors("closing the refund tab"):
            await tab.close()
