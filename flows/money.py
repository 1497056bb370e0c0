"""Amounts as the portal prints them ("US $1,234.56", "1.234,56 €", "£12.34", "12,34zł") →
amount plus currency, and the one rule for checking a refund amount against an order's total.

Texts come from `Locator.text_content()`/`inner_text()`, so a price whose digits sit in one
`<span>` each reads as the plain string. The currency markers are pack data (`currencies:`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.errors import AmountError

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Money:
    """An amount and its ISO 4217 currency code (None: the text named no currency the pack knows)."""

    amount: Decimal
    currency: str | None

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency or '(unknown currency)'}"


def parse_money(text: str, pattern: re.Pattern[str]) -> Decimal | None:
    """The first amount in `text` (found by the pack's money `pattern`, group 1), or None.

    The last `.` or `,` followed by one or two digits is the decimal separator; other dots,
    commas and spaces group thousands."""
    match = pattern.search(text)
    return _amount(match.group(1)) if match else None


def read_money(text: str, pattern: re.Pattern[str], currencies: Mapping[str, Sequence[str]]) -> Money | None:
    """The first amount in `text` with the currency whose marker stands right before or right
    after it (whitespace ignored: "US $12.34", "12,34 €", "129,46zł"). None when `text` holds no
    amount; `currency` None when no marker of `currencies` (ISO code → printed markers) touches it."""
    match = pattern.search(text)
    if match is None:
        return None
    amount = _amount(match.group(1))
    if amount is None:
        return None
    before = _SPACE.sub("", text[: match.start(1)])
    after = _SPACE.sub("", text[match.end(1) :])
    markers = sorted(
        ((_SPACE.sub("", m), code) for code, ms in currencies.items() for m in [*ms, code]),
        key=lambda pair: -len(pair[0]),
    )
    for marker, code in markers:
        if marker and (before.endswith(marker) or after.startswith(marker)):
            return Money(amount, code.upper())
    return Money(amount, None)


def check_refund_amount(
    amount: Decimal, currency: str, total: Money, *, order_id: str, total_text: str
) -> None:
    """Refuse (AmountError) a refund `amount` in `currency` that cannot be held against the
    order's `total`: the total is in another currency, names no currency the pack knows, or
    is smaller than the amount. Amounts are compared only within one currency."""
    asked = currency.upper()
    context = {
        "amount": str(amount),
        "currency": asked,
        "total": f"{total.amount:.2f}",
        "total_currency": total.currency,
        "order_id": order_id,
    }
    if total.currency is None:
        raise AmountError(
            f"cannot check the refund amount: the total of order {order_id} ('{total_text}') names no "
            "currency the selector pack knows (add its marker to `currencies:`); nothing was written",
            **context,
        )
    if total.currency != asked:
        raise AmountError(
            f"refund amount is in {asked} but the order total is in {total.currency} "
            f"(order {order_id}: '{total_text}'); nothing was written",
            **context,
        )
    if amount > total.amount:
        raise AmountError(
            f"refund amount {amount} {asked} is above the total {total} of order {order_id} "
            f"('{total_text}'); nothing was written",
            **context,
        )


def _amount(raw: str) -> Decimal | None:
    raw = _SPACE.sub("", raw)
    decimal = re.search(r"[.,](\d{1,2})$", raw)
    whole = raw[: decimal.start()] if decimal else raw
    digits = re.sub(r"[.,]", "", whole)
    try:
        return Decimal(f"{digits}.{decimal.group(1)}" if decimal else digits)
    except InvalidOperation:
        return None
