"""Flows under trouble: a session dropped mid-flow (even right at the submit) is recovered by
logging in again; with 500 ms latency and 20% of portal requests answered 5xx the flows finish
or fail with a transient/session/unconfirmed error that a retry resolves, and no order is ever
submitted twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from playwright.async_api import Page

from bot.errors import (
    AlreadyRequestedError,
    ChallengeRequiredError,
    SessionError,
    SubmitUnconfirmedError,
    TransientError,
)
from bot.evidence import verify_manifest
from bot.models import OrderStatus, RefundStatus
from flows.cancel import cancel_order
from flows.login import log_in
from flows.refund import RefundRequest, request_refund
from flows.results import CancelResult, RefundResult, nothing_to_record
from flows.session import with_session
from tests.flows.conftest import ONLY_A, ONLY_B, Portal

ANN = "ann@buyer.test"
RETRYABLE = (TransientError, SessionError, SubmitUnconfirmedError)


async def test_session_expired_right_before_submit_is_recovered(portal: Portal, tab: Page,
                                                                tmp_path: Path) -> None:
    env = portal.env(tmp_path / "case")
    creds = portal.creds(ANN)
    order = "3042417938137202"
    expired = 0

    async def before_submit() -> None:
        nonlocal expired
        if expired == 0:
            portal.sb.admin.expire_session(ANN)
        expired += 1

    result = await with_session(tab, env, creds, lambda: cancel_order(
        tab, env, order, reason="cannot_contact", comment=None, before_submit=before_submit))
    assert result.status_after is OrderStatus.CANCEL_REQUESTED
    assert expired == 2  # the flow ran again from the start after the re-login
    counts = portal.counts(order)
    assert counts["accepted"] == 1 and counts["duplicates"] == 0 and counts["blocked"] == 1
    assert verify_manifest(tmp_path / "case") == []


async def test_session_expired_at_refund_submit_is_recovered(portal_a: Portal, tab: Page,
                                                              evidence_dir: Path) -> None:
    env = portal_a.env()
    creds = portal_a.creds(ANN)
    order = "3042417938137304"
    req = RefundRequest(order_id=order, reason="not_as_described", description="Wrong colour.",
                        evidence=[evidence_dir / "photo1.png"], evidence_root=evidence_dir)
    calls = 0

    async def before_submit() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            portal_a.sb.admin.expire_session(ANN)

    result = await with_session(tab, env, creds, lambda: request_refund(tab, env, req,
                                                                          before_submit=before_submit))
    assert result.refund_status is RefundStatus.WAITING_SELLER and calls == 2
    counts = portal_a.counts(order)
    assert counts["accepted"] == 1 and counts["duplicates"] == 0 and counts["blocked"] == 1


async def _like_the_engine(run: Callable[[], Awaitable[Any]],
                           attempts: int = 12) -> tuple[Any, list[Exception]]:
    """Retry what the engine retries; an AlreadyRequestedError after an unconfirmed submit is
    the reconciled end. Any other error fails the test."""
    seen: list[Exception] = []
    for _ in range(attempts):
        try:
            return await run(), seen
        except AlreadyRequestedError as exc:
            return exc, seen
        except RETRYABLE as exc:
            seen.append(exc)
    raise AssertionError(f"still failing after {attempts} attempts: {seen}")


def _report(errors: list[Exception]) -> None:
    logger.info("retried after: {}", [f"{type(e).__name__}: {e}" for e in errors])


@ONLY_B
async def test_cancel_under_latency_and_5xx(portal: Portal, tab: Page, tmp_path: Path) -> None:
    env = portal.env(tmp_path / "case")
    creds = portal.creds(ANN)
    order = "3042417938137200"
    portal.sb.admin.set_faults(latency_ms=500, error_share=0.2, seed=7)
    try:
        outcome, errors = await _like_the_engine(lambda: with_session(tab, env, creds, lambda: cancel_order(
            tab, env, order, reason="wrong_product", comment=None, before_submit=nothing_to_record)))
    finally:
        portal.sb.admin.clear_faults()
    _report(errors)
    if isinstance(outcome, CancelResult):
        assert outcome.status_after is OrderStatus.CANCEL_REQUESTED
    assert portal.sb.admin.order(order)["status"] == "cancel_requested"
    counts = portal.counts(order)
    assert counts["accepted"] == 1 and counts["duplicates"] == 0
    assert all(isinstance(e, RETRYABLE) for e in errors)
    assert verify_manifest(tmp_path / "case") == []


async def test_refund_under_latency_and_5xx(portal_a: Portal, tab: Page, tmp_path: Path,
                                            evidence_dir: Path) -> None:
    env = portal_a.env(tmp_path / "case")
    creds = portal_a.creds(ANN)
    order = "3042417938137303"
    req = RefundRequest(order_id=order, reason="damaged", description="Broken on arrival.",
                        evidence=[evidence_dir / "photo1.png", evidence_dir / "photo2.png"],
                        evidence_root=evidence_dir)
    portal_a.sb.admin.set_faults(latency_ms=500, error_share=0.2, seed=11)
    try:
        outcome, errors = await _like_the_engine(lambda: with_session(
            tab, env, creds, lambda: request_refund(tab, env, req, before_submit=nothing_to_record)))
    finally:
        portal_a.sb.admin.clear_faults()
    _report(errors)
    if isinstance(outcome, RefundResult):
        assert outcome.refund_status is RefundStatus.WAITING_SELLER and outcome.uploaded == 2
    refund = portal_a.sb.admin.order(order)["refunds"]["1"]
    assert refund["status"] == "waiting_seller" and len(refund["evidence"]) == 2
    counts = portal_a.counts(order)
    assert counts["accepted"] == 1 and counts["duplicates"] == 0
    assert verify_manifest(tmp_path / "case") == []


@ONLY_A
async def test_challenge_mid_flow_stops_before_any_submit(portal: Portal, tab: Page, tmp_path: Path) -> None:
    env = portal.env(tmp_path / "case")
    await log_in(tab, env, portal.creds(ANN))
    portal.sb.admin.raise_challenge(ANN, form="dialog")
    with pytest.raises(ChallengeRequiredError) as info:
        await cancel_order(tab, env, "3042417938137201", reason="wrong_product", comment=None,
                           before_submit=nothing_to_record)
    shot = Path(str(info.value.context["screenshot"]))
    assert shot.parent == tmp_path / "case"
    assert verify_manifest(tmp_path / "case") == []  # the challenge screenshot is in the manifest
    assert portal.counts("3042417938137201")["count"] == 0


@ONLY_B
async def test_loading_overlay_is_waited_out(portal: Portal, tab: Page) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    portal.sb.admin.set_settings(overlay_share=1.0, overlay_ms=1200)
    try:
        result = await cancel_order(tab, env, "3042417938137135", reason="duplicate_order", comment=None,
                                    before_submit=nothing_to_record)
    finally:
        portal.sb.admin.set_settings(overlay_share=0.0)
    assert result.status_after is OrderStatus.CANCELED
    assert portal.counts("3042417938137135")["accepted"] == 1
