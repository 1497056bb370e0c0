"""Amounts with their currency, read with the pack's money pattern and currency markers, and the
rule that a refund amount is held only against a total in the same currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.config import Settings
from bot.errors import AmountError, CurrencyMismatchError
from flows.money import Money, check_refund_amount, parse_money, read_money
from flows.pack import Pack, load_pack


@pytest.fixture(scope="module")
def pack() -> Pack:
    return load_pack(Settings())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The seller offers a partial refund of US $10.00.", Decimal("10.00")),
        ("Der Verkäufer bietet eine Teilerstattung von 12,5 € an.", Decimal("12.5")),
        ("Total: US $1,234.56", Decimal("1234.56")),
        ("Gesamt: 1.234,56 €", Decimal("1234.56")),
        ("US $1234.56", Decimal("1234.56")),  # no grouping: all digits count (was read as 123)
        ("US $7", Decimal("7")),
        ("no amount here", None),
    ],
)
def test_parse_money(pack: Pack, text: str, expected: Decimal | None) -> None:
    assert parse_money(text, pack.money_re) == expected


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("Total: US $1,234.56", "1234.56", "USD"),
        ("Total: US$12.34", "12.34", "USD"),
        ("Gesamt: 1.234,56 €", "1234.56", "EUR"),
        ("Total: €12.34", "12.34", "EUR"),
        ("£12.34", "12.34", "GBP"),
        ("Gesamt: 12,34 £", "12.34", "GBP"),
        ("12,34 zł", "12.34", "PLN"),
        ("129,46zł", "129.46", "PLN"),  # as real order exports print it (no space)
        ("Gesamt: US $1.234,50", "1234.50", "USD"),  # a dollar order on a German page
        ("Total: AU $3.50", "3.50", "AUD"),  # not US dollars
        ("Total: 12.34", "12.34", None),  # no marker: the currency is unknown, not guessed
        ("Total: $12.34", "12.34", None),  # a bare $ is ambiguous (AU $, C $, US $)
    ],
)
def test_read_money(pack: Pack, text: str, amount: str, currency: str | None) -> None:
    assert read_money(text, pack.money_re, pack.model.currencies) == Money(Decimal(amount), currency)


def test_read_money_without_amount(pack: Pack) -> None:
    assert read_money("Total: —", pack.money_re, pack.model.currencies) is None


def test_refund_amount_in_another_currency_is_refused() -> None:
    total = Money(Decimal("15.00"), "USD")
    with pytest.raises(CurrencyMismatchError) as err:
        check_refund_amount(
            Decimal("4.10"), "eur", total, order_id="3042417938137301", total_text="Total: US $15.00"
        )
    assert str(err.value).startswith("refund amount is in EUR but the order total is in USD")
    assert err.value.context["currency"] == "EUR" and err.value.context["total_currency"] == "USD"


def test_refund_amount_is_compared_within_one_currency() -> None:
    total = Money(Decimal("12.34"), "EUR")
    check_refund_amount(Decimal("12.34"), "EUR", total, order_id="1", total_text="12,34 €")
    with pytest.raises(AmountError, match=r"refund amount 12.35 EUR is above the total 12.34 EUR"):
        check_refund_amount(Decimal("12.35"), "EUR", total, order_id="1", total_text="12,34 €")
    # A smaller number in another currency is no excuse: 5 GBP is not "below" 12.34 EUR.
    with pytest.raises(CurrencyMismatchError, match="refund amount is in GBP but the order total is in EUR"):
        check_refund_amount(Decimal("5"), "GBP", total, order_id="1", total_text="12,34 €")


def test_total_without_a_known_currency_is_not_compared() -> None:
    with pytest.raises(CurrencyMismatchError, match="names no currency the selector pack knows"):
        check_refund_amount(
            Decimal("1"), "USD", Money(Decimal("15"), None), order_id="1", total_text="Total: 15.00"
        )


@pytest.mark.parametrize(
    ("account", "page"),
    [("de_DE", "de_DE"), ("en_US", "en_US"), ("fr_FR", "en_US"), (None, "en_US")],
)
def test_page_locale_follows_the_account(pack: Pack, account: str | None, page: str) -> None:
    """German accounts get German pages; a language the pack has no texts for gets the forced one."""
    assert pack.page_locale(account) == page
