"""Waiting for the page to show the expected result of a submit (bounded by confirm_timeout_ms)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import TypeVar

from playwright.async_api import expect

from bot.errors import LocatorMissingError, SubmitUnconfirmedError
from bot.errors_playwright import playwright_errors
from bot.models import OrderStatus, RefundStatus
from flows.pack import escape
from flows.pages.base import PortalPage

S = TypeVar("S", OrderStatus, RefundStatus)


def _pattern(texts: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(escape(t) for t in sorted(texts, key=len, reverse=True)), re.IGNORECASE)


async def wait_for_order_status(page: PortalPage, expected: Collection[OrderStatus], *,
                                order_id: str) -> tuple[OrderStatus, str]:
    """Wait until the detail headline shows one of `expected`; SubmitUnconfirmedError if not."""
    table = page.pack.model.order_statuses
    texts = [t for s in expected for ts in table[s].values() for t in ts]
    return await _wait(page, "detail_status", texts, order_id, page.pack.order_status, expected)


async def wait_for_refund_status(page: PortalPage, expected: Collection[RefundStatus], *,
                                 order_id: str) -> tuple[RefundStatus, str]:
    """Wait until the refund page's status line shows one of `expected`; SubmitUnconfirmedError
    if not."""
    table = page.pack.model.refund_statuses
    texts = [t for s in expected for ts in table[s].values() for t in ts]
    return await _wait(page, "refund_status_line", texts, order_id, page.pack.refund_status, expected)


async def _wait(page: PortalPage, key: str, texts: list[str], order_id: str, classify: Callable[[str], S],
                expected: Collection[S]) -> tuple[S, str]:
    timeout = page.env.confirm_ms
    try:
        found = await page.find(key, timeout_ms=timeout)
    except LocatorMissingError as exc:
        raise SubmitUnconfirmedError(f"order {order_id}: after the submit the page shows no status "
                                     f"({key})", order_id=order_id) from exc
    target = found.first
    try:
        with playwright_errors(f"waiting for {key} to change"):
            await expect(target).to_have_text(_pattern(texts), timeout=timeout)
    except AssertionError:
        pass
    with playwright_errors(f"reading {key}"):
        text = (await target.inner_text()).strip()
    status = classify(text)
    if status not in expected:
        raise SubmitUnconfirmedError(
            f"order {order_id}: the page shows '{text}' after the submit, expected "
            f"{sorted(str(s) for s in expected)}", order_id=order_id, status=str(status), status_text=text)
    return status, text
