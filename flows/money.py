"""Amounts: the operator's input parsed strictly, the portal's printed totals ("US $12.34",
"12,34 €", "1.234,50") read into Decimal, and THE rule that checks a refund amount against the
order total (one rule for one-off, queued and service-run cases)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from bot.errors import AmountError, CurrencyMismatchError

_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:[.,][0-9]{1,2})?")
"""ASCII digits, optionally one `.` (or `,`) and one or two decimals: `12`, `12.5`, `12.50`."""

_CURRENCY_MARKS: tuple[tuple[str, str], ...] = (
    ("US $", "USD"), ("US$", "USD"), ("C $", "CAD"), ("C$", "CAD"), ("CA $", "CAD"), ("CA$", "CAD"),
    ("AU $", "AUD"), ("AU$", "AUD"), ("A$", "AUD"), ("NZ$", "NZD"), ("R$", "BRL"), ("MX$", "MXN"),
    ("€", "EUR"), ("£", "GBP"), ("₽", "RUB"), ("zł", "PLN"), ("₩", "KRW"), ("₺", "TRY"),
    ("₴", "UAH"), ("₹", "INR"), ("₪", "ILS"),
)  # fmt: skip
"""How portals print a currency, most specific first (a bare `$` or `¥` names none)."""

_ISO_CODE = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")


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
    if match is None:
        return None
    raw = match.group(1).replace(" ", "").replace("\u00a0", "")
    decimal = re.search(r"[.,](\d{1,2})$", raw)
    whole = raw[: decimal.start()] if decimal else raw
    digits = re.sub(r"[.,]", "", whole)
    try:
        return Decimal(f"{digits}.{decimal.group(1)}" if decimal else digits)
    except InvalidOperation:
        return None


def currency_of(text: str) -> str | None:
    """The ISO code of the currency a printed amount names (`US $15.00` → USD, `12,34 €` →
    EUR, `15.00 USD` → USD); None when it names none we can tell (a bare `$` or `¥`)."""
    iso = _ISO_CODE.search(text)
    if iso is not None:
        return iso.group(1)
    for mark, code in _CURRENCY_MARKS:
        if mark in text:
            return code
    return None


def check_refund_amount(
    amount: Decimal, currency: str | None, total_text: str, pattern: re.Pattern[str], *, order_id: str
) -> Decimal | None:
    """Check a refund `amount` in `currency` against the order total as the portal prints it
    (`total_text`, read with the pack's money `pattern`); return the total, or None when the
    text shows no amount (nothing can be checked).

    Raises CurrencyMismatchError when the total names another currency (a person decides) and
    AmountError ("amount above order total") when `amount` is larger than the total."""
    total = parse_money(total_text, pattern) if total_text else None
    if total is None:
        return None
    shown = currency_of(total_text)
    if currency and shown and shown != currency.upper():
        raise CurrencyMismatchError(
            f"currency mismatch: the refund asks {amount} {currency} but order {order_id} totals "
            f"{total_text.strip()} ({shown})",
            order_id=order_id, amount=str(amount), currency=currency, total_text=total_text,
        )  # fmt: skip
    if amount > total:
        asked = f"{amount} {currency}" if currency else str(amount)
        raise AmountError(
            f"amount above order total: the refund amount {asked} is above the "
            f"total {total} of order {order_id} ({total_text.strip()})",
            order_id=order_id, amount=str(amount), total=str(total),
        )  # fmt: skip
    return total
