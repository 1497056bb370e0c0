"""The evidence recorder: screenshots, HTML captures, traces and operator files per case folder.

Promises:
- every file is written atomically (temp file in the same folder, fsync, `os.replace`), so a
  crash leaves either nothing or a complete file (plus at most a `.tmp-*` file, which
  :func:`verify_manifest` reports);
- file names carry a sequence number and the step (`003-submit.png`); numbering continues
  across attempts because an existing `manifest.json` is loaded;
- `manifest.json` (a JSON list of :class:`EvidenceItem` dicts) is rewritten atomically after
  every item, so it always lists exactly the files written so far with their sha256 and size;
- password and one-time-code values never reach an HTML capture; screenshots mask the locators
  the caller passes (the password fields from the selector pack).

Failures: Playwright errors become PortalUnavailableError (via
:func:`bot.errors_playwright.playwright_errors`),
a missing source file EvidenceError, disk errors propagate as OSError.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Page

from bot.atomic import TEMP_PREFIX, atomic_copy, atomic_write_bytes
from bot.browser import KEPT_TRACE_PREFIX
from bot.errors import EvidenceError
from bot.errors_playwright import playwright_errors

MANIFEST_NAME = "manifest.json"
REPORT_NAME = "report.html"
BUNDLE_NAME = "evidence-bundle.zip"
NOT_IN_MANIFEST = frozenset({MANIFEST_NAME, REPORT_NAME, BUNDLE_NAME})
"""Files of a case folder that describe the evidence rather than being evidence."""

KINDS = ("screenshot", "html", "trace", "upload", "file")
_SLUG = re.compile(r"[^a-z0-9]+")
_REDACT_MARK = "data-recoup-redact"

# Runs in the page: serialise the DOM with secret input values removed. The live page is not
# changed (a clone is serialised). Inputs count as secret by their type/autocomplete, or when
# the caller marked them through locators (`_REDACT_MARK`).
_SANITISED_HTML_JS = """
(mark) => {
  const secretAuto = ['current-password', 'new-password', 'one-time-code'];
  const isSecret = (el) => el.hasAttribute(mark) || (el.tagName === 'INPUT' && (
      (el.getAttribute('type') || '').toLowerCase() === 'password' ||
      (el.getAttribute('autocomplete') || '').toLowerCase().split(/\\s+/)
        .some((t) => secretAuto.includes(t))));
  const live = Array.from(document.querySelectorAll('input, textarea, select, [' + mark + ']'));
  const clone = document.documentElement.cloneNode(true);
  const copies = Array.from(clone.querySelectorAll('input, textarea, select, [' + mark + ']'));
  copies.forEach((el, i) => {
    const src = live[i];
    if (src && isSecret(src)) {
      el.removeAttribute('value');
      if (el.tagName !== 'INPUT') { el.textContent = ''; }
    } else if (src && src.tagName === 'INPUT' && !['file', 'password'].includes(src.type)) {
      if (src.type === 'checkbox' || src.type === 'radio') {
        if (src.checked) { el.setAttribute('checked', ''); } else { el.removeAttribute('checked'); }
      } else { el.setAttribute('value', src.value); }
    } else if (src && src.tagName === 'TEXTAREA') {
      el.textContent = src.value;
    }
    el.removeAttribute(mark);
  });
  live.forEach((el) => el.removeAttribute(mark));
  const dt = document.doctype;
  const doctype = dt ? '<!DOCTYPE ' + dt.name + (dt.publicId ? ' PUBLIC "' + dt.publicId + '"' : '')
    + (dt.systemId ? ' "' + dt.systemId + '"' : '') + '>\\n' : '';
  return doctype + clone.outerHTML;
}
"""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class EvidenceItem:
    """One evidence file of a case. `path` is relative to the case folder (POSIX form)."""

    path: str
    kind: str
    step: str
    url: str | None
    captured_at: datetime
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """The manifest form (times as ISO 8601 with offset)."""
        data = asdict(self)
        data["captured_at"] = self.captured_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvidenceItem:
        """Read a manifest entry; raises ValueError/KeyError/TypeError on a malformed one."""
        captured = datetime.fromisoformat(str(data["captured_at"]))
        if captured.tzinfo is None:
            raise ValueError("captured_at has no time zone")
        return cls(
            path=str(data["path"]),
            kind=str(data["kind"]),
            step=str(data["step"]),
            url=None if data.get("url") is None else str(data["url"]),
            captured_at=captured.astimezone(UTC),
            sha256=str(data["sha256"]),
            size=int(data["size"]),
        )


class EvidenceRecorder:
    """Writes one case's evidence files and keeps its manifest current (see module docstring)."""

    def __init__(self, case_dir: Path, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.case_dir = case_dir
        self._clock = clock
        case_dir.mkdir(parents=True, exist_ok=True)
        self._items: list[EvidenceItem] = (
            load_manifest(case_dir) if (case_dir / MANIFEST_NAME).exists() else []
        )
        self._next_seq = _next_sequence(self._items)

    @property
    def items(self) -> list[EvidenceItem]:
        """The items recorded so far, in order (a copy)."""
        return list(self._items)

    async def screenshot(self, page: Page, step: str, *, mask: Sequence[Locator] = ()) -> EvidenceItem:
        """Full-page PNG of `page` with `mask` locators painted over. Raises PortalUnavailableError
        when the page cannot be captured."""
        name = self._reserve(step, ".png")
        url = page.url
        with playwright_errors(f"taking the screenshot '{step}'"):
            data = await page.screenshot(full_page=True, type="png", mask=list(mask), animations="disabled")
        return self._store(name, data, kind="screenshot", step=step, url=url)

    async def html(self, page: Page, step: str, *, redact: Sequence[Locator] = ()) -> EvidenceItem:
        """The page's current DOM as HTML, with values of password/one-time-code inputs and of the
        `redact` locators removed (typed values of other fields are kept, so the capture shows
        what was entered). Raises PortalUnavailableError when the page cannot be read."""
        name = self._reserve(step, ".html")
        url = page.url
        with playwright_errors(f"capturing the HTML '{step}'"):
            for locator in redact:
                await locator.evaluate_all(
                    "(els, mark) => els.forEach((e) => e.setAttribute(mark, ''))", _REDACT_MARK
                )
            content = await page.evaluate(_SANITISED_HTML_JS, _REDACT_MARK)
        return self._store(name, str(content).encode("utf-8"), kind="html", step=step, url=url)

    def add_file(self, src: Path, *, kind: str = "upload", step: str = "input") -> EvidenceItem:
        """Copy an operator's evidence file into the case folder (hash taken while copying).
        Raises EvidenceError if `src` is not a readable regular file."""
        if not src.is_file():
            raise EvidenceError(f"evidence file {src} is missing or not a regular file", path=str(src))
        name = self._reserve(f"{step}-{Path(src.name).stem}", src.suffix.lower())
        try:
            digest = atomic_copy(src, self.case_dir / name)
        except FileNotFoundError as exc:
            raise EvidenceError(f"evidence file {src} disappeared while copying", path=str(src)) from exc
        size = (self.case_dir / name).stat().st_size
        return self._append(EvidenceItem(name, _kind(kind), step, None, self._now(), digest, size))

    def add_trace(self, trace_zip: Path, step: str) -> EvidenceItem:
        """Copy a (scrubbed) Playwright trace zip into the case folder (mode 0600)."""
        name = self._reserve(step, ".zip")
        digest = atomic_copy(trace_zip, self.case_dir / name, mode=0o600)
        size = (self.case_dir / name).stat().st_size
        return self._append(EvidenceItem(name, "trace", step, None, self._now(), digest, size))

    def adopt_traces(self, step: str = "failure trace") -> list[EvidenceItem]:
        """Put every trace a failed browser session kept in the case folder
        (`trace-<time>.zip`, see :data:`bot.browser.KEPT_TRACE_PREFIX`) into the manifest under
        a numbered name; the unnumbered file is removed. Returns the new items. Disk errors
        propagate as OSError (the unadopted file stays, and is adopted by the next call).
        """
        adopted = []
        for kept in sorted(self.case_dir.glob(f"{KEPT_TRACE_PREFIX}*.zip")):
            adopted.append(self.add_trace(kept, step))
            kept.unlink()
        return adopted

    # ---- internals ----------------------------------------------------------------------
    def _reserve(self, step: str, suffix: str) -> str:
        """Take the next sequence number now (before any await) so names never collide."""
        seq = self._next_seq
        self._next_seq += 1
        slug = _SLUG.sub("-", step.lower()).strip("-")[:48] or "step"
        return f"{seq:03d}-{slug}{suffix}"

    def _store(self, name: str, data: bytes, *, kind: str, step: str, url: str | None) -> EvidenceItem:
        atomic_write_bytes(self.case_dir / name, data)
        item = EvidenceItem(name, kind, step, url, self._now(), hashlib.sha256(data).hexdigest(), len(data))
        return self._append(item)

    def _append(self, item: EvidenceItem) -> EvidenceItem:
        self._items.append(item)
        self._items.sort(key=lambda i: i.path)
        write_manifest(self.case_dir, self._items)
        return item

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the evidence clock must return aware datetimes")
        return now.astimezone(UTC)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown evidence kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def _next_sequence(items: Sequence[EvidenceItem]) -> int:
    numbers = [int(i.path[:3]) for i in items if i.path[:3].isdigit()]
    return max(numbers, default=0) + 1


def write_manifest(case_dir: Path, items: Sequence[EvidenceItem]) -> None:
    """Rewrite `manifest.json` atomically from `items`."""
    data = json.dumps([i.to_dict() for i in items], indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(case_dir / MANIFEST_NAME, data.encode("utf-8"))


def load_manifest(case_dir: Path) -> list[EvidenceItem]:
    """Read `manifest.json`; raises EvidenceError when it is missing or malformed."""
    path = case_dir / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, list):
            raise ValueError("the manifest is not a list")
        return [EvidenceItem.from_dict(entry) for entry in raw]
    except FileNotFoundError as exc:
        raise EvidenceError(f"no {MANIFEST_NAME} in {case_dir}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"{path} is malformed: {exc}") from exc


@dataclass(frozen=True)
class Problem:
    """One verification finding. `kind`: missing | mismatch | extra | unsafe | manifest."""

    kind: str
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


def check_manifest(case_dir: Path) -> list[Problem]:
    """Structured form of :func:`verify_manifest`."""
    try:
        items = load_manifest(case_dir)
    except EvidenceError as exc:
        return [Problem("manifest", MANIFEST_NAME, exc.message)]
    problems: list[Problem] = []
    root = case_dir.resolve()
    listed: set[str] = set()
    for item in items:
        target = (case_dir / item.path).resolve()
        if not target.is_relative_to(root) or target == root:
            problems.append(Problem("unsafe", item.path, "points outside the case folder"))
            continue
        listed.add(target.relative_to(root).as_posix())
        if not target.is_file():
            problems.append(Problem("missing", item.path, "listed in the manifest but not on disk"))
            continue
        size, digest = _hash_file(target)
        if digest != item.sha256 or size != item.size:
            problems.append(
                Problem(
                    "mismatch",
                    item.path,
                    f"sha256 {digest} ({size} bytes), manifest says {item.sha256} ({item.size} bytes)",
                )
            )
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if rel in listed or rel in NOT_IN_MANIFEST:
            continue
        why = "an unfinished temp file" if path.name.startswith(TEMP_PREFIX) else "not in the manifest"
        problems.append(Problem("extra", rel, why))
    return problems


def verify_manifest(case_dir: Path) -> list[str]:
    """Problems with a case folder: missing file, hash mismatch, extra files; [] when all good."""
    return [str(p) for p in check_manifest(case_dir)]


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()
