"""Case exports: JSON and CSV round-trips, formula-like cells neutralised, stdout and files."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.errors import InputError
from bot.export import COLUMNS, export_cases, from_csv, neutralise, unneutralise
from bot.models import CaseKind, NewCase
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock
from tests.tracking.conftest import add_account, next_order_id, submitted_case

FORMULAS = ['=HYPERLINK("http://evil.test","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "'=quoted"]


def _seed(store: Store, clock: FrozenClock) -> list[int]:
    add_account(store, "alice", "alice@example.test")
    add_account(store, "bob", "bob@example.test")
    ids = []
    for text in FORMULAS:
        new = NewCase(account="alice", order_id=next_order_id(), kind=CaseKind.CANCEL, reason="changed_mind",
                      message=text)  # fmt: skip
        ids.append(store.intake.create_with(new).id)
    refunded = submitted_case(store, "bob", CaseKind.REFUND)
    clock.advance(90)
    store.cases.transition(
        refunded.id, CaseState.REFUNDED, expected_from=CaseState.SUBMITTED,
        outcome_amount=Decimal("12.50"), outcome_note="=cmd|' /C calc'!A0", detail={"source": "test"},
    )  # fmt: skip
    ids.append(refunded.id)
    return ids


def test_json_export_to_a_file_round_trips(store: Store, clock: FrozenClock, tmp_path: Path) -> None:
    ids = _seed(store, clock)
    target = tmp_path / "cases.json"
    assert export_cases(store, "json", path=target) == len(ids)
    records = json.loads(target.read_text(encoding="utf-8"))
    assert [r["id"] for r in records] == ids
    assert all(list(r) == list(COLUMNS) for r in records)
    assert [r["message"] for r in records[: len(FORMULAS)]] == FORMULAS  # JSON keeps values as they are
    refunded = records[-1]
    assert refunded["state"] == "refunded" and refunded["outcome_amount"] == "12.50"
    assert refunded["outcome_at"] == clock.now.isoformat()
    assert refunded["last_event_kind"] == "transition" and refunded["last_event_to_state"] == "refunded"
    assert refunded["last_event_detail"] == {"source": "test"}
    assert records[0]["last_event_kind"] == "created" and records[0]["outcome_at"] is None
    assert target.stat().st_mode & 0o777 == 0o600


def test_csv_export_neutralises_formulas_and_round_trips(store: Store, clock: FrozenClock) -> None:
    ids = _seed(store, clock)
    out = io.StringIO()
    assert export_cases(store, "csv", stream=out) == len(ids)
    text = out.getvalue()
    raw_rows = list(csv.DictReader(io.StringIO(text)))
    for row in raw_rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert raw_rows[0]["message"] == "'" + FORMULAS[0]
    assert raw_rows[-1]["outcome_note"] == "'=cmd|' /C calc'!A0"

    out_json = io.StringIO()
    export_cases(store, "json", stream=out_json)
    expected = json.loads(out_json.getvalue())
    back = from_csv(text)
    assert len(back) == len(expected)
    for got, want in zip(back, expected, strict=True):
        for column in COLUMNS:
            value = want[column]
            if value is None or value == "":  # CSV cannot tell an empty text from none
                assert got[column] is None, column
            elif isinstance(value, dict):
                assert json.loads(got[column] or "") == value
            else:
                assert got[column] == str(value), column


def test_filters_and_stdout(store: Store, clock: FrozenClock, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(store, clock)
    assert export_cases(store, "json", account="bob") == 1
    printed = json.loads(capsys.readouterr().out)
    assert [r["account"] for r in printed] == ["bob"]
    assert export_cases(store, "csv", states=[CaseState.QUEUED]) == len(FORMULAS)
    assert capsys.readouterr().out.splitlines()[0] == ",".join(COLUMNS)


def test_bad_format_and_unwritable_path_raise_input_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        export_cases(store, "xml", stream=io.StringIO())
    with pytest.raises(InputError):
        export_cases(store, "json", path=tmp_path / "missing-folder" / "x.json")


@pytest.mark.parametrize("value", ["=1", "+", "-5", "@x", "\tx", "\rx", "'=x", "''+x", "'plain", "plain", ""])
def test_neutralise_is_reversible(value: str) -> None:
    safe = neutralise(value)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unneutralise(safe) == value
