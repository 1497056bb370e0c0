"""Order ids are ASCII digits: other scripts' digits are converted before the duplicate check, so
one order gets one case whatever keyboard typed its id (issue 13, finding 5). Offline: `--queue`
cases on an account added with `--no-check`; no portal is involved."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.errors import InvalidOrderIdError
from bot.models import ORDER_ID_RE

ASCII = "304241793813713"
FULL_WIDTH = "３０４２４１７９３８１３７１３"  # U+FF10..FF19
ARABIC_INDIC = "٣٠٤٢٤١٧٩٣٨١٣٧١٣"  # U+0660..0669
EXTENDED_ARABIC = "۳۰۴۲۴۱۷۹۳۸۱۳۷۱۳"  # U+06F0..06F9 (Persian)
DEVANAGARI = "३०४२४१७९३८१३७१३"  # U+0966..096F
CANCEL = ("--account", "ann", "--reason", "not_shipped_on_time", "--queue")


def _recoup(*args: str, code: int) -> Any:
    result = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    return json.loads(result.stdout)


def _stored_order_ids(data: Path) -> list[str]:
    with sqlite3.connect(data / "recoup.db") as con:
        return [row[0] for row in con.execute("SELECT order_id FROM cases ORDER BY id")]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    _recoup("accounts", "add", "ann", "--email", "ann@buyer.test", "--no-check", code=0)
    return tmp_path / "data"


def test_the_same_order_in_three_scripts_is_one_case(data: Path) -> None:
    first = _recoup("cancel", FULL_WIDTH, *CANCEL, code=0)
    assert first["order_id"] == ASCII and first["state"] == "queued"
    for spelled in (ARABIC_INDIC, ASCII, f"  {EXTENDED_ARABIC}\u00a0", DEVANAGARI):
        refused = _recoup("cancel", spelled, *CANCEL, code=2)
        assert refused["error"] == "DuplicateCaseError", refused
        assert f"case {first['id']} already covers cancel of order {ASCII}" in refused["message"]
    assert _stored_order_ids(data) == [ASCII]
    # `status` finds the case by any spelling of its id.
    assert [c["id"] for c in _recoup("status", ARABIC_INDIC, code=0)] == [first["id"]]


@pytest.mark.parametrize(
    "order",
    [
        "¹²³⁴⁵⁶⁷⁸⁹¹²³⁴⁵⁶",  # superscripts: digits, but not decimal digits
        "①②③④⑤⑥⑦⑧⑨①②③④⑤⑥",  # circled numbers
        "ⅢⅣⅤ" + ASCII,  # Roman numerals are not digits
        "３０４２４-１７９３８１３７１３",  # converted, but a dash is still inside
    ],
)
def test_other_digit_like_characters_are_refused_and_nothing_is_written(data: Path, order: str) -> None:
    error = _recoup("cancel", order, *CANCEL, code=2)
    assert error["error"] == "InvalidOrderIdError", error
    assert "order id must be 15-19 digits" in error["message"]
    assert _stored_order_ids(data) == []


def test_normalisation_and_the_stored_form() -> None:
    from bot.models import normalize_order_id, parse_order_id

    assert normalize_order_id(f" {FULL_WIDTH}\n") == ASCII
    assert parse_order_id(f"{ASCII[:8]}{ARABIC_INDIC[8:]}") == ASCII  # mixed scripts
    for stored_form_only in (FULL_WIDTH, ARABIC_INDIC, f"{ASCII}\n", f"{ASCII} "):
        assert not ORDER_ID_RE.match(stored_form_only)
    assert ORDER_ID_RE.match(ASCII)
    with pytest.raises(InvalidOrderIdError):
        parse_order_id("³" * 16)
    # The mail classifier keeps only ids of this form: `\d` in a pack pattern is not enough.
    assert [c for c in re.findall(r"\d{15,19}", f"Order {FULL_WIDTH} / {ASCII}") if ORDER_ID_RE.match(c)] == [
        ASCII
    ]
