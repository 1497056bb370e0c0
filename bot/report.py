"""The per-case evidence report (one self-contained HTML page) and the evidence zip bundle.

:func:`render_case_report` writes `report.html` into the case folder: CSS inline, screenshots and
image uploads embedded as `data:` URIs, a Content-Security-Policy that forbids scripts and any
fetch, and every text autoescaped (portal and mail text may contain HTML). It is meant for a
dispute agent who never heard of Recoup. :func:`bundle_case` zips the evidence, the manifest,
the report and a `SHA256SUMS` file. Both write atomically; failures raise EvidenceError.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, field_validator

from bot import __version__
from bot.atomic import atomic_write_bytes
from bot.errors import EvidenceError
from bot.evidence import (
    BUNDLE_NAME,
    MANIFEST_NAME,
    REPORT_NAME,
    EvidenceItem,
    check_manifest,
    load_manifest,
)
from bot.states import STATE_LABELS, CaseState

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_IMAGE_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
}
_SAFE_HREF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
MAX_EMBED_BYTES = 8 * 1024 * 1024
"""Images larger than this are linked, not embedded (keeps the page openable)."""


class ReportEvent(BaseModel):
    """One state change of the case."""

    model_config = ConfigDict(frozen=True)

    time: datetime
    from_state: str | None
    to_state: str
    detail: str = ""


class ReportCase(BaseModel):
    """What the report needs to know about a case (independent of the store's tables)."""

    model_config = ConfigDict(frozen=True)

    account: str
    order_id: str
    kind: str
    state: str
    reason: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    item_line: int | None = None
    """The order's item line a refund asks for (1-based); None: not chosen by the operator."""
    refund_type: str | None = None
    message: str | None = None
    created_at: datetime
    events: list[ReportEvent] = []
    case_id: str | None = None
    outcome: str | None = None
    portal: str | None = None

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        """Accept `(time, from_state, to_state, detail)` tuples as well as dicts/models."""
        if not isinstance(value, list | tuple):
            return value
        out: list[Any] = []
        for event in value:
            if isinstance(event, list | tuple):
                time, from_state, to_state, *rest = event
                out.append(
                    {
                        "time": time,
                        "from_state": from_state,
                        "to_state": to_state,
                        "detail": rest[0] if rest and rest[0] is not None else "",
                    }
                )
            else:
                out.append(event)
        return out


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = _utc
    env.filters["human_size"] = _human_size
    env.filters["safe_href"] = _safe_href
    env.filters["words"] = _words
    env.filters["state_label"] = state_label
    return env


def render_case_report(case: ReportCase | Any, items: Sequence[EvidenceItem], case_dir: Path) -> Path:
    """Write `case_dir/report.html` and return its path.

    `case` is a :class:`ReportCase` or anything with the same fields (a dict or an object).
    Items whose file is missing are listed with a warning instead of a thumbnail. Raises
    EvidenceError if the folder cannot be written.
    """
    report_case = (
        case
        if isinstance(case, ReportCase)
        else ReportCase.model_validate(case, from_attributes=not isinstance(case, dict))
    )
    ordered = sorted(items, key=lambda i: i.path)
    rows = [_row(case_dir, item) for item in ordered]
    html = (
        _environment()
        .get_template("report.html")
        .render(
            case=report_case,
            uploads=[r for r in rows if r["item"].kind == "upload"],
            steps=[r for r in rows if r["item"].kind != "upload"],
            events=sorted(report_case.events, key=lambda e: e.time),
            generated_at=datetime.now(UTC),
            version=__version__,
            manifest_name=MANIFEST_NAME,
        )
    )
    target = case_dir / REPORT_NAME
    try:
        case_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, html.encode("utf-8"))
    except OSError as exc:
        raise EvidenceError(f"cannot write {target}: {exc.strerror}") from exc
    return target


def _row(case_dir: Path, item: EvidenceItem) -> dict[str, Any]:
    """Template data for one item: the item plus an embeddable image (or why there is none)."""
    path = case_dir / item.path
    mime = _IMAGE_MIME.get(path.suffix.lower())
    row: dict[str, Any] = {"item": item, "data_uri": None, "missing": not path.is_file(), "anchor": ""}
    row["anchor"] = "item-" + "".join(c if c.isalnum() else "-" for c in item.path)
    if mime and not row["missing"] and item.size <= MAX_EMBED_BYTES:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        row["data_uri"] = f"data:{mime};base64,{data}"
    return row


def bundle_case(case_dir: Path) -> Path:
    """Zip every manifest file, `manifest.json`, `report.html` and a `SHA256SUMS` (checkable with
    `sha256sum -c SHA256SUMS`) into `case_dir/evidence-bundle.zip`; return its path.

    Raises EvidenceError when the manifest or report is missing, or when a listed file is
    missing or does not match its hash (a bundle never carries unverifiable evidence). Files
    not in the manifest are left out.
    """
    items = load_manifest(case_dir)
    if not (case_dir / REPORT_NAME).is_file():
        raise EvidenceError(f"no {REPORT_NAME} in {case_dir}; render the report first")
    blocking = [p for p in check_manifest(case_dir) if p.kind != "extra"]
    if blocking:
        raise EvidenceError(
            f"evidence in {case_dir} fails verification: " + "; ".join(str(p) for p in blocking)
        )
    sums = "".join(f"{item.sha256}  {item.path}\n" for item in items)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in items:
            archive.write(case_dir / item.path, item.path)
        archive.write(case_dir / MANIFEST_NAME, MANIFEST_NAME)
        archive.write(case_dir / REPORT_NAME, REPORT_NAME)
        archive.writestr("SHA256SUMS", sums)
    target = case_dir / BUNDLE_NAME
    try:
        atomic_write_bytes(target, buffer.getvalue())
    except OSError as exc:
        raise EvidenceError(f"cannot write {target}: {exc.strerror}") from exc
    return target


def _utc(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def state_label(state: str) -> str:
    """The report's label for a stored state value (:data:`bot.states.STATE_LABELS`); an
    unknown value is shown as it is."""
    try:
        return STATE_LABELS[CaseState(state)]
    except ValueError:
        return state


def _words(value: str) -> str:
    """`refund_only` → `Refund only` (codes shown to people)."""
    text = value.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _safe_href(path: str) -> str:
    """A relative link to an evidence file, or `#` when the path is not a plain relative name
    (a tampered manifest must not turn a link into `javascript:` or an absolute URL)."""
    return path if _SAFE_HREF.fullmatch(path) and ".." not in path.split("/") else "#"


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
