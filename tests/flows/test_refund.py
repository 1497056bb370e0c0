"""The return/refund flow in both layouts: submit with evidence, first modal, already requested,
not eligible, evidence refused before upload, German pages."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import Page

from bot.errors import AlreadyRequestedError, EvidenceError, InputError, NotEligibleError
from bot.evidence import load_manifest, verify_manifest
from bot.models import RefundStatus, RefundType
from flows.login import log_in
from flows.refund import RefundRequest, request_refund
from flows.results import nothing_to_record
from tests.flows.conftest import ONLY_A, ONLY_B, Portal, png_bytes

ANN = "ann@buyer.test"


def _req(order: str, evidence_dir: Path, **kw: object) -> RefundRequest:
    base: dict[str, object] = {
        "order_id": order, "reason": "not_received", "description": "Parcel never arrived.",
        "evidence": [evidence_dir / "photo1.png", evidence_dir / "photo2.png"], "evidence_root": evidence_dir,
    }
    base.update(kw)
    return RefundRequest(**base)  # type: ignore[arg-type]


async def test_partial_refund_of_second_item(portal: Portal, tab: Page, tmp_path: Path,
                                             evidence_dir: Path) -> None:
    env = portal.env(tmp_path / "case")
    order = "3042417938137300"
    seen: list[int] = []

    async def before_submit() -> None:
        seen.append(portal.counts(order)["count"])

    await log_in(tab, env, portal.creds(ANN))
    result = await request_refund(tab, env, _req(order, evidence_dir, item_index=1, amount=Decimal("10.75"),
                                                 refund_type=RefundType.RETURN_AND_REFUND),
                                  before_submit=before_submit)
    assert seen == [0]
    assert result.submitted and result.uploaded == 2
    assert result.refund_status is RefundStatus.WAITING_SELLER
    counts = portal.counts(order)
    assert counts["accepted"] == 1 and counts["count"] == 1
    refund = portal.sb.admin.order(order)["refunds"]["2"]
    assert Decimal(refund["amount"]) == Decimal("10.75") and refund["refund_type"] == "return_and_refund"
    assert len(refund["evidence"]) == 2
    assert len(tab.context.pages) == 1  # the refund tab was closed
    case = tmp_path / "case"
    assert verify_manifest(case) == []
    steps = {i.step for i in load_manifest(case)}
    assert {"refund-submit", "refund-confirmed", "evidence-uploaded", "refund-result"} <= steps
    # a second run finds the request and submits nothing
    with pytest.raises(AlreadyRequestedError) as info:
        await request_refund(tab, env, _req(order, evidence_dir, item_index=1),
                             before_submit=nothing_to_record)
    assert info.value.context["refund_status"] == "waiting_seller"
    assert portal.counts(order)["count"] == 1


@ONLY_A
async def test_a_line_the_order_does_not_have_is_bad_input(portal: Portal, tab: Page,
                                                          evidence_dir: Path) -> None:
    """A pinned line beyond the order's lines (a case queued with `--item 9`): InputError (the
    case fails as bad input), nothing clicked, not a missing locator for a person to look at."""
    env = portal.env()
    order = "3042417938137300"
    chosen: list[int] = []
    await log_in(tab, env, portal.creds(ANN))
    with pytest.raises(InputError, match=r"has 2 item line\(s\): there is no line 9"):
        await request_refund(tab, env, _req(order, evidence_dir, item_index=8),
                             before_submit=nothing_to_record, line_chosen=chosen.append)
    assert chosen == [] and portal.counts(order)["count"] == 0


@ONLY_B
async def test_first_modal_is_answered(portal: Portal, tab: Page, evidence_dir: Path) -> None:
    env = portal.env()
    order = "3042417938137302"
    await log_in(tab, env, portal.creds(ANN))
    result = await request_refund(tab, env, _req(order, evidence_dir, reason="tracked_returned",
                                                 evidence=[evidence_dir / "photo1.png"]),
                                  before_submit=nothing_to_record)
    assert result.refund_status is RefundStatus.WAITING_SELLER and result.uploaded == 1
    assert portal.counts(order)["accepted"] == 1


@ONLY_A
async def test_dispute_in_progress_is_already_requested(portal: Portal, tab: Page,
                                                        evidence_dir: Path) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    with pytest.raises(AlreadyRequestedError):
        await request_refund(tab, env, _req("3042417938137401", evidence_dir),
                             before_submit=nothing_to_record)
    assert portal.counts("3042417938137401")["count"] == 0


@ONLY_A
async def test_not_eligible_without_a_click(portal: Portal, tab: Page, evidence_dir: Path) -> None:
    env = portal.env()
    await log_in(tab, env, portal.creds(ANN))
    for order in ("3042417938137305", "3042417938137201", "3042417938137404"):  # too late, unshipped, closed
        with pytest.raises(NotEligibleError):
            await request_refund(tab, env, _req(order, evidence_dir), before_submit=nothing_to_record)
        assert portal.counts(order)["count"] == 0
        assert len(tab.context.pages) == 1


async def test_bad_evidence_refused_before_anything(portal_a: Portal, tab: Page, tmp_path: Path,
                                                    evidence_dir: Path) -> None:
    env = portal_a.env()
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    big = evidence_dir / "huge.png"
    big.write_bytes(png_bytes(pad_to=2 * 1024 * 1024 + 10))
    cases = [
        [evidence_dir / "missing.png"],
        [outside],
        [evidence_dir / ".." / "outside.png"],
        [big],
        [evidence_dir / "photo1.png"] * 2,
    ]
    for files in cases:
        with pytest.raises(EvidenceError):
            await request_refund(tab, env, _req("3042417938137300", evidence_dir, evidence=files),
                                 before_submit=nothing_to_record)
    assert tab.url == "about:blank"  # nothing was even opened
    assert portal_a.counts("3042417938137300")["count"] == 0


@ONLY_B
async def test_german_refund(portal: Portal, tab: Page, evidence_dir: Path) -> None:
    env = portal.env()
    order = "3043000000000101"
    await log_in(tab, env, portal.creds("bernd@kaeufer.test"), locale=None)
    result = await request_refund(tab, env, _req(order, evidence_dir, reason="damaged"),
                                  before_submit=nothing_to_record)
    assert result.refund_status is RefundStatus.WAITING_SELLER
    assert result.refund_text == "Warten auf Antwort des Verkäufers"
    assert portal.counts(order)["accepted"] == 1


async def test_each_item_line_takes_its_own_request(portal: Portal, tab: Page, evidence_dir: Path) -> None:
    """No line named: the first line without a request is filed, so a second run files line 2
    (the order is in dispute over line 1 by then) and a third finds every line requested."""
    env = portal.env()
    order = "3042417938137300"
    await log_in(tab, env, portal.creds(ANN))
    first = await request_refund(tab, env, _req(order, evidence_dir), before_submit=nothing_to_record)
    assert first.submitted and first.item_index == 0
    assert portal.sb.admin.order(order)["status"] == "in_dispute"
    chosen: list[int] = []
    second = await request_refund(tab, env, _req(order, evidence_dir), before_submit=nothing_to_record,
                                  line_chosen=chosen.append)
    assert second.submitted and second.item_index == 1 and chosen == [1]
    with pytest.raises(AlreadyRequestedError):
        await request_refund(tab, env, _req(order, evidence_dir), before_submit=nothing_to_record)
    by_item = portal.counts(order)["by_item"]
    assert {k: v["accepted"] for k, v in by_item.items()} == {"1": 1, "2": 1}
    assert portal.counts(order)["count"] == 2
