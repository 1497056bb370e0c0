"""Amounts as the portal prints them ("US $12.34", "12,34 €", "1.234,50") → Decimal."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation


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
