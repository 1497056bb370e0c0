"""A German account is driven on German pages end to end: the engine signs in, files a
cancellation and a refund, and reads the outcomes, all on pages in the account's language
(issue 8, item 5). Store (SQLite) + real Chromium + the sandbox + Dovecot, as a worker runs it."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from bot.evidence import verify_manifest
from bot.models import CaseKind, NewCase, RefundType
from bot.states import CaseState
from tests.engine.test_engine_e2e import WORKER, Rig, rig  # noqa: F401  (rig is a fixture)
from tests.flows.conftest import png_bytes

BERND = "bernd@kaeufer.test"  # locale de_DE, orders in EUR
CANCEL_ORDER = "3043000000000100"  # awaiting shipment: a cancellation request, seller approves
REFUND_ORDER = "3043000000000101"  # awaiting delivery, 14,20 €: a refund, seller accepts


def _page_languages(case_dir: Path) -> set[str]:
    """The `lang` of every portal page the case kept as HTML evidence."""
    pages = [p for p in case_dir.rglob("*.html") if p.name != "report.html"]
    assert pages, f"no HTML evidence in {case_dir}"
    found = set()
    for page in pages:
        match = re.search(r"<html[^>]*\slang=\"([a-z]+)\"", page.read_text(encoding="utf-8"))
        assert match, page
        found.add(match.group(1))
    return found


async def test_german_account_on_german_pages(
    rig: Rig,  # noqa: F811  (the imported fixture)
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    rig.add_account(BERND, "bernd", monkeypatch)
    assert rig.store.accounts.get("bernd").locale == "de_DE"

    cancel = rig.claimed(
        NewCase(
            account="bernd",
            order_id=CANCEL_ORDER,
            kind=CaseKind.CANCEL,
            reason="not_shipped_on_time",
            message="Bitte stornieren.",
        )
    )
    assert await rig.engine.run_case(cancel, WORKER) is CaseState.SUBMITTED

    folder = tmp_path / "fotos"
    folder.mkdir()
    (folder / "foto.png").write_bytes(png_bytes(12, 12))
    refund = rig.claimed(
        NewCase(
            account="bernd",
            order_id=REFUND_ORDER,
            kind=CaseKind.REFUND,
            reason="not_received",
            message="Die Sendung ist nie angekommen.",
            refund_type=RefundType.REFUND_ONLY,
            amount=Decimal("14.20"),
            currency="EUR",
            evidence_folder=str(folder),
        )
    )
    assert await rig.engine.run_case(refund, WORKER) is CaseState.SUBMITTED

    # filed once each
    assert rig.count(CANCEL_ORDER) == 1 and rig.count(REFUND_ORDER) == 1
    # ...on German pages: the texts the flows read back are German, every kept page is lang=de
    submitted = {
        c.id: next(e for e in rig.store.cases.history(c.id) if e.kind == "submitted").detail
        for c in (cancel, refund)
    }
    assert submitted[cancel.id]["status_text"] == "Stornierung angefragt"
    assert submitted[refund.id]["refund_text"] == "Warten auf Antwort des Verkäufers"
    for case in (cancel, refund):
        assert _page_languages(rig.engine.case_dir(case.id)) == {"de"}
        assert verify_manifest(rig.engine.case_dir(case.id)) == []

    # the outcomes are read from the German pages too (the sellers answer after 10 minutes)
    rig.sb.admin.advance(700)
    cases = [rig.store.cases.get(cancel.id), rig.store.cases.get(refund.id)]
    result = await rig.engine.check_account("bernd", cases)
    assert result.moved[cancel.id] is CaseState.APPROVED
    assert result.moved[refund.id] in (CaseState.APPROVED, CaseState.REFUNDED)
    seen = result.seen[refund.id]
    assert seen is not None and seen.refund_text == "Erstattung abgeschlossen"
    assert rig.count(CANCEL_ORDER) == 1 and rig.count(REFUND_ORDER) == 1
