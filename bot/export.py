"""Export cases (with outcome fields and their newest event) as JSON or CSV.

Values are plain text-friendly: datetimes as ISO 8601 (UTC), amounts as exact decimal strings,
the last event's detail as a JSON object (a JSON string inside CSV). The ``webhooks`` column is
the case's webhook deliveries (``{"delivered", "pending", "dead", "last_error"}``; ``dead`` counts
dead letters, given up after the retry budget), empty when no webhook was queued for it. Empty
values are ``null`` in JSON and empty cells in CSV.

CSV is safe to open in a spreadsheet: a cell that starts with ``= + - @``, a tab or a carriage
return (also after leading quotes) gets a leading ``'`` so it is never run as a formula
(OWASP "CSV injection"); :func:`unneutralise` reverses it exactly.

Output goes to a file (written atomically) or to a text stream such as stdout. File errors raise
:class:`bot.errors.InputError`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from bot.atomic import atomic_write_bytes
from bot.errors import InputError
from bot.outbox import TARGET as WEBHOOK_TARGET
from bot.states import CaseState
from bot.store import CaseReportRow, Store


class ExportFormat(StrEnum):
    """Supported export formats."""

    JSON = "json"
    CSV = "csv"


COLUMNS: tuple[str, ...] = (*(f.name for f in fields(CaseReportRow)), "webhooks")
"""Export columns, in order."""

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """`cell` made safe for spreadsheets (a leading ``'`` before a formula trigger)."""
    return "'" + cell if cell.lstrip("'").startswith(_TRIGGERS) else cell


def unneutralise(cell: str) -> str:
    """The original value of a cell written by :func:`neutralise`."""
    if cell.startswith("'") and cell[1:].lstrip("'").startswith(_TRIGGERS):
        return cell[1:]
    return cell


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def case_records(
    store: Store, *, states: Iterable[CaseState] | None = None, account: str | None = None
) -> list[dict[str, Any]]:
    """Cases as JSON-ready dicts (column → value), oldest first."""
    rows = store.reporting.case_rows(states=states, account=account)
    webhooks = store.reporting.webhook_summaries(WEBHOOK_TARGET)
    return [
        {
            **{key: _plain(value) for key, value in asdict(row).items()},
            "webhooks": webhooks[row.id].as_dict() if row.id in webhooks else None,
        }
        for row in rows
    ]


def to_json(records: list[dict[str, Any]]) -> str:
    """Records as a pretty JSON array."""
    return json.dumps(records, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def to_csv(records: list[dict[str, Any]]) -> str:
    """Records as CSV with a header row; injection-safe cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([_cell(record.get(column)) for column in COLUMNS])
    return buffer.getvalue()


def from_csv(text: str) -> list[dict[str, str | None]]:
    """Read an export written by :func:`to_csv` back: cells un-neutralised, empty → None (CSV
    does not tell an empty text from a missing value)."""
    reader = csv.DictReader(io.StringIO(text))
    return [{key: (unneutralise(value) if value else None) for key, value in row.items()} for row in reader]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return neutralise(text)


def export_cases(
    store: Store,
    fmt: ExportFormat | str,
    *,
    path: Path | None = None,
    stream: TextIO | None = None,
    states: Iterable[CaseState] | None = None,
    account: str | None = None,
) -> int:
    """Write the cases in `fmt` to `path` (atomically) or `stream` (default stdout); returns how
    many cases were written. Raises InputError for an unknown format or an unwritable path."""
    try:
        kind = ExportFormat(fmt)
    except ValueError:
        raise InputError(f"unknown export format {fmt!r}: use json or csv") from None
    records = case_records(store, states=states, account=account)
    text = to_json(records) if kind is ExportFormat.JSON else to_csv(records)
    if path is not None:
        try:
            atomic_write_bytes(path, text.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise InputError(f"cannot write the export to {path}: {exc.strerror}", path=str(path)) from exc
    else:
        out = stream or sys.stdout
        out.write(text)
        out.flush()
    return len(records)
