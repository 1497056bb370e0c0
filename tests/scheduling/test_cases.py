"""create_case: validation before any write, all-or-nothing evidence copy, dispute cap,
dry-run flag, approve-first."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bot import cases as cases_module
from bot.cases import approve_case, create_case
from bot.config import Settings
from bot.errors import (
    AmountError,
    DisputeShareError,
    DuplicateCaseError,
    EvidenceError,
    InvalidOrderIdError,
    StaleStateError,
    UnknownAccountError,
)
from bot.states import CaseState
from bot.store import Store
from tests.scheduling.conftest import PNG, cancel_case, counts, order_id, refund_input


def _png(folder: Path, name: str, size: int = len(PNG)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(PNG + b"\x00" * (size - len(PNG)))
    return path


def _case_folders(settings: Settings) -> list[Path]:
    root = settings.evidence_dir
    return sorted(root.iterdir()) if root.exists() else []


def test_refund_with_evidence_copies_files_and_records_hashes(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    photo = _png(tmp_path / "inbox", "Box photo.png")
    other = _png(tmp_path / "inbox", "label.PNG", size=500)
    case = create_case(store, settings, refund_input(), evidence=[photo, other])
    assert case.state is CaseState.QUEUED
    assert case.evidence_folder is not None
    folder = Path(case.evidence_folder)
    assert folder == (settings.evidence_dir / f"case-{case.id}" / "input").resolve()
    copied = sorted(p.name for p in folder.iterdir())
    assert copied == ["Box-photo.png", "label.png"]
    records = {r.path: r.sha256 for r in store.evidence.list_for(case.id)}
    assert records == {
        f"input/{name}": hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in copied
    }
    created = store.cases.history(case.id)[0]
    assert created.kind == "created"
    assert created.detail["dry_run"] is False
    assert created.detail["evidence_files"] == 2


def test_dry_run_flag_is_recorded_on_the_created_event(store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", dry_run=True)
    case = cancel_case(store, settings)
    assert store.cases.history(case.id)[0].detail["dry_run"] is True


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[dict[str, object], list[Path], type[Exception]]]:
    inbox = tmp_path / "inbox"
    good = _png(inbox, "good.png")
    outside = _png(tmp_path / "elsewhere", "outside.png")
    big = _png(inbox, "big.png", size=3 * 1024 * 1024)
    return {
        "unknown account": (refund_input(account="mallory"), [good], UnknownAccountError),
        "malformed order id": (refund_input(order_id="12345"), [good], InvalidOrderIdError),
        "letters in order id": (refund_input(order_id="30424179381371a5"), [good], InvalidOrderIdError),
        "missing evidence": (refund_input(), [inbox / "nope.png"], EvidenceError),
        "oversized evidence": (refund_input(), [good, big], EvidenceError),
        "escaping evidence": (refund_input(), [outside], EvidenceError),
        "escaping with ..": (refund_input(), [inbox / ".." / "elsewhere" / "outside.png"], EvidenceError),
        "zero amount": (refund_input(amount="0"), [good], AmountError),
        "negative amount": (refund_input(amount="-3"), [good], AmountError),
    }


@pytest.mark.parametrize(
    "label",
    [
        "unknown account",
        "malformed order id",
        "letters in order id",
        "missing evidence",
        "oversized evidence",
        "escaping evidence",
        "escaping with ..",
        "zero amount",
        "negative amount",
    ],
)
def test_bad_input_raises_typed_error_and_writes_nothing(
    store: Store, settings: Settings, tmp_path: Path, label: str
) -> None:
    data, files, error = _bad_inputs(tmp_path)[label]
    with pytest.raises(error):
        create_case(store, settings, data, evidence=files, evidence_root=tmp_path / "inbox")
    assert counts(store) == (0, 0, 0)
    assert _case_folders(settings) == []


def test_failure_while_copying_rolls_back_row_and_folder(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [_png(tmp_path / "inbox", "a.png"), _png(tmp_path / "inbox", "b.png")]
    real_copy = cases_module.atomic_copy  # type: ignore[attr-defined]
    calls = []

    def failing_copy(src: Path, dest: Path) -> str:
        calls.append(src)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_copy(src, dest)

    monkeypatch.setattr(cases_module, "atomic_copy", failing_copy)
    with pytest.raises(EvidenceError, match="could not be copied"):
        create_case(store, settings, refund_input(), evidence=files)
    assert len(calls) == 2  # the first file had been copied before the failure
    assert counts(store) == (0, 0, 0)
    assert _case_folders(settings) == []


def test_duplicate_is_refused_without_copying(store: Store, settings: Settings, tmp_path: Path) -> None:
    data = refund_input()
    first = create_case(store, settings, data)
    before = counts(store)
    with pytest.raises(DuplicateCaseError) as raised:
        create_case(store, settings, data, evidence=[_png(tmp_path / "inbox", "x.png")])
    assert raised.value.existing_case_id == first.id
    assert counts(store) == before
    assert _case_folders(settings) == []


def test_dispute_share_cap(store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", dispute_share_cap=0.5)
    with pytest.raises(DisputeShareError, match="no known order count"):
        create_case(store, settings, refund_input())
    assert counts(store) == (0, 0, 0)
    store.tracking.set_orders_seen("alice", 4)
    create_case(store, settings, refund_input())  # 1 of 4
    create_case(store, settings, refund_input())  # 2 of 4 = the cap, allowed
    cancel_case(store, settings)  # cancellations are not disputes
    before = counts(store)
    with pytest.raises(DisputeShareError, match="3 of the 4 known orders"):
        create_case(store, settings, refund_input())
    assert counts(store) == before
    withdrawn = store.cases.list_cases(states=[CaseState.QUEUED], account="alice")[0]
    store.cases.transition(withdrawn.id, CaseState.CANCELED_BY_OPERATOR, expected_from=CaseState.QUEUED)
    create_case(store, settings, refund_input())  # a withdrawn case frees its place


def test_approve_first_flow(store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", approve_first=True)
    case = cancel_case(store, settings)
    assert case.state is CaseState.AWAITING_APPROVAL
    assert store.cases.history(case.id)[0].detail["approve_first"] is True
    assert store.dispatch.claim_next_ready("w", lease_seconds=60) is None  # never runs unapproved
    approved = approve_case(store, case.id, operator="ops")
    assert approved.state is CaseState.QUEUED
    assert store.cases.history(case.id)[-1].kind == "approved_by_operator"
    with pytest.raises(StaleStateError):
        approve_case(store, case.id)
    claimed = store.dispatch.claim_next_ready("w", lease_seconds=60)
    assert claimed is not None and claimed.id == case.id


def test_order_id_is_15_to_19_digits(store: Store, settings: Settings) -> None:
    for digits in (15, 19):
        oid = order_id()[:1] + "7" * (digits - 1)
        create_case(store, settings, {"account": "alice", "order_id": oid, "kind": "cancel", "reason": "x"})
    for digits in (14, 20):
        with pytest.raises(InvalidOrderIdError):
            create_case(
                store,
                settings,
                {"account": "alice", "order_id": "4" * digits, "kind": "cancel", "reason": "x"},
            )
