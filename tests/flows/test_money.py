"""The amount rules of flows/money.py: the operator's input parsed strictly, the portal's total
read with its currency, and the one check of a refund amount against the order total."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from bot.errors import AmountError, CurrencyMismatchError, InputError
from bot.models import OrderStatus
from flows.money import Money, check_refund_amount, parse_amount
from flows.orders import check_order_refund
from flows.pages.order_list import CardLine, OrderCard

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


def _card(lines: tuple[CardLine, ...], names: tuple[str, ...] = ()) -> OrderCard:
    return OrderCard(order_id="1", status=OrderStatus.AWAITING_DELIVERY, status_text="Awaiting delivery",
                     store=None, total_text="Total: US $30.00", item_names=names,
                     total=Money(Decimal("30.00"), "USD"), lines=lines)


def test_an_item_line_is_held_against_what_it_cost() -> None:
    usd = Money(Decimal("4.10"), "USD")
    card = _card((CardLine(1, "Case", "US $4.10", usd, 1),
                  CardLine(2, "Keycaps", "US $10.75", Money(Decimal("10.75"), "USD"), 2)))
    assert check_order_refund(card, Decimal("21.50"), "USD", item_line=2) == Decimal("21.50")  # 2 x 10.75
    with pytest.raises(AmountError, match=r"item line 2 of order 1"):
        check_order_refund(card, Decimal("21.51"), "USD", item_line=2)
    with pytest.raises(AmountError, match="item line 1"):
        check_order_refund(card, Decimal("5.00"), "USD", item_line=1)
    assert check_order_refund(card, Decimal("30.00"), "USD") == Decimal("30.00")  # no line: the total
    with pytest.raises(InputError, match=r"has 2 item line\(s\): there is no line 3") as info:
        check_order_refund(card, Decimal("1"), "USD", item_line=3)
    assert not isinstance(info.value, AmountError)


def test_without_per_line_prices_the_total_is_the_limit() -> None:
    card = _card((CardLine(1, "Case", None, None, 1), CardLine(2, "Keycaps", None, None, 1)))
    assert check_order_refund(card, Decimal("29.00"), "USD", item_line=2) == Decimal("30.00")
    names_only = _card((), names=("Case", "Keycaps"))
    with pytest.raises(InputError, match="no line 3"):
        check_order_refund(names_only, Decimal("1"), "USD", item_line=3)
    unknown = _card(())  # no lines, no names: the count is unknown, the total is the limit
    assert check_order_refund(unknown, Decimal("1"), "USD", item_line=7) == Decimal("30.00")
