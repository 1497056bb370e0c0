"""Answer a seller's counter-proposal on an open return/refund request.

The offered amount is read from the page and judged by an :class:`OfferPolicy`: accepted when
it is at least `min_share` of the amount asked, otherwise the buyer disagrees, uploads further
evidence and writes a message (which escalates the dispute). `before_submit()` is awaited right
before the one irreversible click; the refund status must change afterwards (else
SubmitUnconfirmedError).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from loguru import logger
from playwright.async_api import Page

from bot.errors import AlreadyRequestedError, NotEligibleError, PortalUnavailableError, SubmitUnconfirmedError
from bot.errors_playwright import playwright_errors
from bot.models import RefundStatus
from flows.env import FlowEnv
from flows.evidence_check import check_evidence
from flows.pages.counter_offer import CounterOfferPanel
from flows.pages.order_detail import OrderDetailPage
from flows.pages.refund_form import FormState, RefundFormPage
from flows.refund import OPEN_REQUEST
from flows.results import BeforeSubmit, OfferResult
from flows.verify import wait_for_refund_status


@dataclass(frozen=True)
class OfferPolicy:
    """Accept an offer of at least `min_share` of the amount asked."""

    min_share: Decimal = Decimal("0.8")

    def accepts(self, offered: Decimal, asked: Decimal) -> bool:
        """True when `offered` is enough."""
        return offered >= asked * self.min_share


@dataclass(frozen=True)
class OfferAnswer:
    """What the case asked for, and what to send when disagreeing."""

    order_id: str
    asked: Decimal
    message: str
    evidence: list[Path]
    evidence_root: Path
    item_index: int = 0


async def answer_offer(page: Page, env: FlowEnv, answer: OfferAnswer, policy: OfferPolicy, *,
                       before_submit: BeforeSubmit) -> OfferResult:
    """Read the counter-proposal of `answer.order_id` and accept or disagree by `policy`.

    Raises NotEligibleError when the request does not wait for the buyer (nothing clicked),
    AlreadyRequestedError when it was answered already, EvidenceError for bad files (checked
    first), SubmitUnconfirmedError when the page does not show the new state. The evidence
    captured is on disk when it returns or raises (the pre-submit HTML before the answer is sent).
    """
    async with env.evidence_flushed():
        return await _answer(page, env, answer, policy, before_submit=before_submit)


async def _answer(page: Page, env: FlowEnv, answer: OfferAnswer, policy: OfferPolicy, *,
                  before_submit: BeforeSubmit) -> OfferResult:
    files = check_evidence(env, answer.evidence, answer.evidence_root)
    order_id = answer.order_id
    detail = env.page_object(OrderDetailPage, page)
    await detail.open(order_id)
    item = await detail.item(answer.item_index)
    if not await detail.has("detail_view_refund", root=item):
        raise NotEligibleError(f"order {order_id} has no return/refund request to answer", order_id=order_id)
    tab = await detail.open_refund_tab(item, "detail_view_refund")
    try:
        form = env.page_object(RefundFormPage, tab)
        if await form.state() is not FormState.REQUEST:
            raise NotEligibleError(f"order {order_id}: no request shown", order_id=order_id)
        status, text = await form.request_status()
        if status in (RefundStatus.ESCALATED, RefundStatus.REFUNDED):
            raise AlreadyRequestedError(f"order {order_id}: the request is '{text}' already",
                                        order_id=order_id, refund_status=str(status), refund_text=text)
        if status is not RefundStatus.WAITING_BUYER:
            raise NotEligibleError(f"order {order_id}: the request is '{text}', no offer to answer",
                                   order_id=order_id, refund_status=str(status), refund_text=text)
        panel = env.page_object(CounterOfferPanel, tab)
        await panel.open()
        offered, offer_text = await panel.offered_amount()
        decision: Literal["accept", "disagree"] = (
            "accept" if policy.accepts(offered, answer.asked) else "disagree")
        logger.info("order {}: offer {} of {} asked → {}", order_id, offered, answer.asked, decision)
        if env.settings.dry_run:
            return OfferResult(order_id, offered, answer.asked, decision, status, text, submitted=False)
        try:
            if decision == "accept":
                await panel.capture_html("offer-submit")
                await env.flush_evidence()  # on disk before it is sent
                await before_submit()
                await panel.accept()
            else:
                modal, _ = await panel.prepare_disagreement(answer.message, files)
                await panel.capture_html("offer-submit")
                await env.flush_evidence()  # on disk before it is sent
                await before_submit()
                await panel.submit_disagreement(modal)
        except PortalUnavailableError as exc:
            raise SubmitUnconfirmedError(f"order {order_id}: the portal did not confirm the answer ({exc})",
                                         order_id=order_id) from exc
        after, after_text = await wait_for_refund_status(
            form, OPEN_REQUEST - {RefundStatus.WAITING_BUYER}, order_id=order_id)
        await form.snap("offer-result")
        await form.capture_html("offer-confirmed")
        logger.debug("order {}: offer text was '{}'", order_id, offer_text)
        return OfferResult(order_id, offered, answer.asked, decision, after, after_text, submitted=True)
    except Exception:
        await env.page_object(RefundFormPage, tab).capture_failure()  # the tab is closed next
        raise
    finally:
        with playwright_errors("closing the refund tab"):
            await tab.close()
