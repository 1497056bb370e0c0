"""Answering a seller's counter-proposal: disagree with evidence (escalates) or accept, by policy."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import Page

from bot.errors import AlreadyRequestedError, NotEligibleError
from bot.evidence import verify_manifest
from bot.models import RefundStatus
from flows.login import log_in
from flows.offer import OfferAnswer, OfferPolicy, answer_offer
from flows.refund import RefundRequest, request_refund
from flows.results import nothing_to_record
from tests.flows.conftest import ONLY_A, ONLY_B, Portal

ANN = "ann@buyer.test"


async def _countered(portal: Portal, tab: Page, order: str, evidence_dir: Path, delay_s: int) -> None:
    env = portal.env()
    req = RefundRequest(order_id=order, reason="not_received", description="Never arrived.",
                        evidence=[evidence_dir / "photo1.png"], evidence_root=evidence_dir)
    await request_refund(tab, env, req, before_submit=nothing_to_record)
    portal.sb.admin.advance(delay_s + 60)


def _answer(order: str, asked: str, evidence_dir: Path) -> OfferAnswer:
    return OfferAnswer(order_id=order, asked=Decimal(asked), message="Half is not enough: nothing arrived.",
                       evidence=[evidence_dir / "photo2.png"], evidence_root=evidence_dir)


async def test_low_offer_is_disagreed_with_evidence(portal: Portal, tab: Page, tmp_path: Path,
                                                   evidence_dir: Path) -> None:
    order = "3042417938137302"
    await log_in(tab, portal.env(), portal.creds(ANN))
    with pytest.raises(NotEligibleError):  # no request yet: nothing to answer
        await answer_offer(tab, portal.env(), _answer(order, "20.00", evidence_dir), OfferPolicy(),
                           before_submit=nothing_to_record)
    await _countered(portal, tab, order, evidence_dir, 7200)
    env = portal.env(tmp_path / "case")
    result = await answer_offer(tab, env, _answer(order, "20.00", evidence_dir), OfferPolicy(),
                                before_submit=nothing_to_record)
    assert result.offered == Decimal("10.00") and result.decision == "disagree"
    assert result.refund_status is RefundStatus.ESCALATED
    counts = portal.counts(order)["by_kind"]
    assert counts["refund"]["accepted"] == 1 and counts["respond"]["accepted"] == 1
    assert sum(counts["respond"].values()) == 1
    message = portal.sb.admin.order(order)["refunds"]["1"]["messages"][-1]
    assert message["action"] == "disagree" and len(message["evidence"]) == 1
    assert verify_manifest(tmp_path / "case") == []
    with pytest.raises(AlreadyRequestedError):  # answered already: nothing sent again
        await answer_offer(tab, env, _answer(order, "20.00", evidence_dir), OfferPolicy(),
                           before_submit=nothing_to_record)
    assert sum(portal.counts(order)["by_kind"]["respond"].values()) == 1


@ONLY_A
async def test_good_enough_offer_is_accepted(portal: Portal, tab: Page, evidence_dir: Path) -> None:
    order = "3042417938137302"
    await log_in(tab, portal.env(), portal.creds(ANN))
    await _countered(portal, tab, order, evidence_dir, 7200)
    result = await answer_offer(tab, portal.env(), _answer(order, "20.00", evidence_dir),
                                OfferPolicy(min_share=Decimal("0.5")), before_submit=nothing_to_record)
    assert result.decision == "accept" and result.refund_status is RefundStatus.REFUNDED
    assert portal.counts(order)["by_kind"]["respond"]["accepted"] == 1


@ONLY_B
async def test_german_offer(portal: Portal, tab: Page, evidence_dir: Path) -> None:
    order = "3043000000000102"
    await log_in(tab, portal.env(), portal.creds("bernd@kaeufer.test"), locale=None)
    await _countered(portal, tab, order, evidence_dir, 600)
    result = await answer_offer(tab, portal.env(), _answer(order, "6.00", evidence_dir), OfferPolicy(),
                                before_submit=nothing_to_record)
    assert result.decision == "disagree" and result.refund_status is RefundStatus.ESCALATED
    assert result.refund_text == "Warten auf Rückmeldung von AliExpress"
