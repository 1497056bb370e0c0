"""Amount parsing with the pack's money pattern."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.config import Settings
from flows.money import parse_money
from flows.pack import load_pack


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The seller offers a partial refund of US $10.00.", Decimal("10.00")),
        ("Der Verkäufer bietet eine Teilerstattung von 12,5 € an.", Decimal("12.5")),
        ("Total: US $1,234.56", Decimal("1234.56")),
        ("Gesamt: 1.234,56 €", Decimal("1234.56")),
        ("US $7", Decimal("7")),
        ("no amount here", None),
    ],
)
def test_parse_money(text: str, expected: Decimal | None) -> None:
    assert parse_money(text, load_pack(Settings()).money_re) == expected
