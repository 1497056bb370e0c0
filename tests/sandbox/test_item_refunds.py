"""One request per item line, through Recoup's engine (store + Chromium + sandbox + Dovecot).

An order with two lines takes a refund request on each. The store holds one refund case per
order (unique account/order/kind), so line 1 is filed first by an earlier run of the refund flow
and the case then files line 2, once; every crash interleaving of the case still ends with each
line filed exactly once (the sandbox counts submissions per item line).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.errors import AlreadyRequestedError
from bot.models import CaseKind, NewCase, RefundType
from bot.states import CaseState
from flows.env import FlowEnv
from flows.login import Credentials, log_in
from flows.pack import load_pack
from flows.refund import RefundRequest, request_refund
from flows.results import nothing_to_record
from tests.engine import test_engine_e2e
from tests.engine.test_engine_e2e import WORKER, Rig
from tests.flows.conftest import png_bytes

rig = test_engine_e2e.rig  # the engine tests' fixture: store, engine, browser, sandbox

pytestmark = pytest.mark.e2e

ORDER = "3042417938137300"  # ann, awaiting delivery, two item lines


def refund_case(folder: Path) -> NewCase:
    return NewCase(account="ann", order_id=ORDER, kind=CaseKind.REFUND, reason="not_received",
                   message="Tracking shows returned to sender.", refund_type=RefundType.REFUND_ONLY,
                   amount=Decimal("4.10"), currency="USD", evidence_folder=str(folder))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "input"
    path.mkdir()
    (path / "photo.png").write_bytes(png_bytes(12, 12))
    return path


def per_item(rig: Rig) -> dict[str, int]:
    """Accepted + refused-duplicate refund POSTs per item line of ORDER."""
    return {item: int(v["count"]) for item, v in rig.sb.admin.submissions(ORDER)["by_item"].items()}


def intent_lines(rig: Rig, case_id: int) -> list[object]:
    return [e.detail.get("item_index") for e in rig.store.cases.history(case_id) if e.kind == "submit_intent"]


async def click_as_the_crashed_worker(rig: Rig, folder: Path, index: int) -> None:
    """The refund click on line `index` that landed before a crash (a separate session)."""
    acc = rig.sb.scenario.account("ann@buyer.test")
    env = FlowEnv(load_pack(rig.settings), rig.settings)
    async with rig.browser.session("crashed-worker") as context:
        page = await context.new_page()
        await log_in(page, env, Credentials(email=acc.email, password=acc.password))
        await request_refund(page, env, RefundRequest(
            order_id=ORDER, reason="not_received", description="x", evidence=[folder / "photo.png"],
            evidence_root=folder, item_index=index), before_submit=nothing_to_record)


async def file_line_one_first(rig: Rig, folder: Path) -> None:
    """Line 1 is filed before the case runs (the operator's own earlier run of the refund flow)."""
    await click_as_the_crashed_worker(rig, folder, 0)
    assert per_item(rig) == {"1": 1}
    assert rig.sb.admin.order(ORDER)["status"] == "in_dispute"


async def test_item_two_after_item_one_is_filed_once_each(
        rig: Rig, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    await file_line_one_first(rig, folder)
    case = rig.claimed(refund_case(folder))
    assert await rig.engine.run_case(case, WORKER) is CaseState.SUBMITTED
    assert per_item(rig) == {"1": 1, "2": 1}
    assert intent_lines(rig, case.id) == [1]
    submitted = [e for e in rig.store.cases.history(case.id) if e.kind == "submitted"]
    assert submitted and submitted[-1].detail["item_index"] == 1
    assert set(rig.sb.admin.order(ORDER)["refunds"]) == {"1", "2"}

    # every line requested now: the flow files nothing more
    env = FlowEnv(load_pack(rig.settings), rig.settings)
    acc = rig.sb.scenario.account("ann@buyer.test")
    async with rig.browser.session("again") as context:
        page = await context.new_page()
        await log_in(page, env, Credentials(email=acc.email, password=acc.password))
        with pytest.raises(AlreadyRequestedError):
            await request_refund(page, env, RefundRequest(
                order_id=ORDER, reason="not_received", description="x", evidence=[folder / "photo.png"],
                evidence_root=folder), before_submit=nothing_to_record)
    assert per_item(rig) == {"1": 1, "2": 1}


async def test_crash_after_click_on_line_two_is_reconciled_on_that_line(
        rig: Rig, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Line 2's click landed, the worker died before recording it: the reconcile reads line 2's
    request and files nothing."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    await file_line_one_first(rig, folder)
    case = rig.claimed(refund_case(folder))
    rig.store.cases.mark_submit_intent(case.id, WORKER, detail={"kind": "refund", "item_index": 1})
    await click_as_the_crashed_worker(rig, folder, 1)
    assert await rig.engine.run_case(rig.store.cases.get(case.id), WORKER) is CaseState.SUBMITTED
    assert "reconciled" in [e.kind for e in rig.store.cases.history(case.id)]
    assert per_item(rig) == {"1": 1, "2": 1}


async def test_crash_after_click_on_line_one_never_files_line_two(
        rig: Rig, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case's click on line 1 landed unseen: its reconcile is pinned to line 1 (the first
    line without a request would now be line 2)."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(refund_case(folder))
    rig.store.cases.mark_submit_intent(case.id, WORKER, detail={"kind": "refund", "item_index": 0})
    await click_as_the_crashed_worker(rig, folder, 0)
    assert await rig.engine.run_case(rig.store.cases.get(case.id), WORKER) is CaseState.SUBMITTED
    assert "reconciled" in [e.kind for e in rig.store.cases.history(case.id)]
    assert per_item(rig) == {"1": 1}


async def test_crash_before_click_files_the_recorded_line_once(
        rig: Rig, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    await file_line_one_first(rig, folder)
    case = rig.claimed(refund_case(folder))
    rig.store.cases.mark_submit_intent(case.id, WORKER, detail={"kind": "refund", "item_index": 1})
    assert await rig.engine.run_case(rig.store.cases.get(case.id), WORKER) is CaseState.SUBMITTED
    assert per_item(rig) == {"1": 1, "2": 1}


async def test_intent_without_a_line_counts_any_request_as_its_own(
        rig: Rig, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An intent written before lines were recorded: a request on any line means the click
    landed; nothing is filed again."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(refund_case(folder))
    rig.store.cases.mark_submit_intent(case.id, WORKER)
    await click_as_the_crashed_worker(rig, folder, 1)
    assert await rig.engine.run_case(rig.store.cases.get(case.id), WORKER) is CaseState.SUBMITTED
    assert per_item(rig) == {"2": 1}


def line_two_case(folder: Path) -> NewCase:
    """`recoup refund --item 2`: the case names line 2 (1-based) with an amount within its price."""
    return NewCase(account="ann", order_id=ORDER, kind=CaseKind.REFUND, reason="not_received",
                   message="Line 2 never arrived.", refund_type=RefundType.REFUND_ONLY,
                   amount=Decimal("15.00"), currency="USD", item_line=2, evidence_folder=str(folder))


async def test_a_case_naming_line_two_is_pinned_to_it_through_a_crash(
        rig: Rig, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Line 1 has no request, so "the first line without one" would be line 1: a case naming
    line 2 whose click landed unseen reconciles on line 2 and files nothing, never line 1."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(line_two_case(folder))
    assert case.item_line == 2
    rig.store.cases.mark_submit_intent(case.id, WORKER, detail={"kind": "refund", "item_index": 1})
    await click_as_the_crashed_worker(rig, folder, 1)
    assert await rig.engine.run_case(rig.store.cases.get(case.id), WORKER) is CaseState.SUBMITTED
    assert "reconciled" in [e.kind for e in rig.store.cases.history(case.id)]
    assert per_item(rig) == {"2": 1}


async def test_a_case_naming_line_two_files_line_two_with_its_amount(
        rig: Rig, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run by the engine (e.g. queued while the service ran): the amount is held against line 2's
    price (21.50), not line 1's (4.10), and the intent records line 2."""
    rig.add_account("ann@buyer.test", "ann", monkeypatch)
    case = rig.claimed(line_two_case(folder))
    assert await rig.engine.run_case(case, WORKER) is CaseState.SUBMITTED
    assert per_item(rig) == {"2": 1}
    assert intent_lines(rig, case.id) == [1]
    assert rig.sb.admin.order(ORDER)["refunds"]["2"]["amount"] in ("15.00", "15")
