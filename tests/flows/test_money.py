"""The amount rules of flows/money.py: the operator's input parsed strictly, the portal's total
read with its currency, and the one check of a refund amount against the order total."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from bot.errors import AmountError, CurrencyMismatchError
from flows.money import Money, check_refund_amount, parse_amount

MONEY = re.compile(r"(\d{1,3}(?:[.,\s]?\d{3})*(?:[.,]\d{1,2})?)")  # the pack's pattern


@pytest.mark.parametrize(("text", "value"), [("12", "12"), ("12.5", "12.5"), ("12.50", "12.50"),
                                             (" 4.10 ", "4.10"), ("12,50", "12.50")])  # fmt: skip
def test_plain_amounts(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("1e9", "not a number"), ("1_000", "not a number"), ("NaN", "not a number"), ("inf", "not a number"),
     ("-Infinity", "not a number"), ("１２", "not a number"), ("١٢", "not a number"),
     ("1,000.00", "not a number"),
     ("", "not a number"), ("12.345", "more than 2 decimals"), ("-3", "must be positive"),
     ("0", "must be positive"), ("0.00", "must be positive")],
)  # fmt: skip
def test_anything_else_is_refused(text: str, message: str) -> None:
    with pytest.raises(AmountError, match=message):
        parse_amount(text)


def test_refund_amount_against_the_total() -> None:
    usd = Money(Decimal("15.00"), "USD")
    assert check_refund_amount(Decimal("15.00"), "USD", usd, order_id="1", total_text="US $15.00") == Decimal(
        "15.00"
    )
    assert check_refund_amount(Decimal("1"), "USD", None, order_id="1", total_text="") is None
    with pytest.raises(AmountError, match=r"amount above order total.*above the total 15\.00 USD"):
        check_refund_amount(Decimal("15.01"), "USD", usd, order_id="1", total_text="US $15.00")
    with pytest.raises(CurrencyMismatchError, match="refund amount is in EUR but the order total is in USD"):
        check_refund_amount(Decimal("5"), "EUR", usd, order_id="1", total_text="US $15.00")
