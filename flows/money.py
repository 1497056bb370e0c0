"""Amounts: the operator's input parsed strictly (:func:`parse_amount`), the portal's printed
totals ("US $1,234.56", "1.234,56 €", "£12.34", "12,34zł") read as amount plus currency
(:func:`read_money`), and THE rule that checks a refund amount against the order total
(:func:`check_refund_amount`: one rule for one-off, queued and service-run cases).

Texts come from `Locator.text_content()`/`inner_text()`, so a price whose digits sit in one
`<span>` each reads as the plain string. The currency markers are pack data (`currencies:`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.errors import AmountError, CurrencyMismatchError

_SPACE = re.compile(r"\s+")

_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:[.,][0-9]{1,2})?")
"""ASCII digits, optionally one `.` (or `,`) and one or two decimals: `12`, `12.5`, `12.50`."""


@dataclass(frozen=True)
class Money:
    """An amount and its ISO 4217 currency code (None: the text named no currency the pack knows)."""

    amount: Decimal
    currency: str | None

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency or '(unknown currency)'}"


def parse_amount(text: str) -> Decimal:
    """The operator's amount: a plain positive decimal with at most 2 places (`12`, `12.50`,
    `12,50`). Raises AmountError (nothing is written then) for anything else: an exponent
    (`1e9`), underscores (`1_000`), thousands separators, signs, NaN/Infinity, non-ASCII digits,
    zero or more than 2 decimals."""
    raw = text.strip()
    if raw.startswith("-") and _PLAIN_AMOUNT.fullmatch(raw[1:]):
        raise AmountError(f"amount must be positive (got {raw})", amount=raw)
    if not _PLAIN_AMOUNT.fullmatch(raw):
        decimals = re.fullmatch(r"[0-9]+[.,]([0-9]+)", raw)
        if decimals is not None:
            raise AmountError(f"amount {raw!r} has more than 2 decimals", amount=raw)
        raise AmountError(
            f"amount {raw!r} is not a number like 12.50 (plain digits with at most 2 decimals: "
            "no exponent, underscores, signs or thousands separators)",
            amount=raw,
        )
    value = Decimal(raw.replace(",", "."))
    if value <= 0:
        raise AmountError(f"amount must be positive (got {raw})", amount=raw)
    return value


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
    amount: Decimal,
    currency: str | None,
    total: Money | None,
    *,
    order_id: str,
    total_text: str,
    line: int | None = None,
) -> Decimal | None:
    """Hold a refund `amount` in `currency` against the order's `total` (as read by
    :func:`read_money` from `total_text`); return the total's amount, or None when the page
    showed no total (nothing can be checked). Amounts are compared only within one currency.

    Raises AmountError ("amount above order total") when `amount` is larger than the total, and
    CurrencyMismatchError (a person decides) when the total is in another currency or names no
    currency the pack knows. A one-off command turns both into bad input: nothing written.

    With `line` (1-based) `total` is that item line's price instead (:func:`flows.orders.
    check_order_refund` picks it) and the messages name the line."""
    if total is None:
        return None
    what = f"item line {line} of order {order_id}" if line is not None else f"order {order_id}"
    asked = (currency or "").upper() or None
    context = {
        "amount": str(amount),
        "currency": asked,
        "total": f"{total.amount:.2f}",
        "total_currency": total.currency,
        "order_id": order_id,
    }
    if total.currency is None:
        raise CurrencyMismatchError(
            f"cannot check the refund amount: the {'price' if line else 'total'} of {what} "
            f"('{total_text.strip()}') names no currency the selector pack knows "
            "(add its marker to `currencies:`)",
            **context,
        )
    if asked is not None and total.currency != asked:
        raise CurrencyMismatchError(
            f"refund amount is in {asked} but the {'line price' if line else 'order total'} is in "
            f"{total.currency} ({what}: '{total_text.strip()}')",
            **context,
        )
    if amount > total.amount and line is not None:
        raise AmountError(
            f"amount above the item line's price: the refund amount {amount} {asked or total.currency} "
            f"is above {total}, what {what} cost ('{total_text.strip()}')",
            **context,
            item_line=line,
        )
    if amount > total.amount:
        raise AmountError(
            f"amount above order total: the refund amount {amount} {asked or total.currency} is above "
            f"the total {total} of order {order_id} ('{total_text.strip()}')",
            **context,
        )
    return total.amount


def _amount(raw: str) -> Decimal | None:
    raw = _SPACE.sub("", raw)
    decimal = re.search(r"[.,](\d{1,2})$", raw)
    whole = raw[: decimal.start()] if decimal else raw
    digits = re.sub(r"[.,]", "", whole)
    try:
        return Decimal(f"{digits}.{decimal.group(1)}" if decimal else digits)
    except InvalidOperation:
        return None
