"""The evidence recorder: screenshots, HTML captures, traces and operator files per case folder.

Promises:
- every file is written atomically (temp file in the same folder, fsync, `os.replace`), so a
  crash leaves either nothing or a complete file (plus at most a `.tmp-*` file, which
  :func:`verify_manifest` reports);
- file names carry a sequence number and the step (`003-submit.jpg`); numbering continues
  across attempts because an existing `manifest.json` is loaded;
- `manifest.json` (a JSON list of :class:`EvidenceItem` dicts) is rewritten atomically after
  every batch of files, so it lists exactly the files written so far with their sha256 and size
  (a crash between a file and its manifest leaves a numbered file the manifest lacks: the next
  recorder on the folder adopts it, see :meth:`EvidenceRecorder.__init__`);
- password and one-time-code values never reach an HTML capture; screenshots mask the locators
  the caller passes (the password fields from the selector pack).

Speed: a capture waits only for the browser (the screenshot or the DOM). Hashing is done at
once (the item is returned with its sha256), but writing the file, fsyncing it and rewriting the
manifest happen in a worker thread, in capture order, while the flow goes on; captures that
queue up meanwhile are written as one batch with one manifest rewrite. :meth:`EvidenceRecorder.flush`
waits until everything captured is on disk and in the manifest: the engine calls it when a case
ends, and the flows before their irreversible click (the page about to be submitted is on disk
before it is sent). Screenshots are JPEG (quality 85) by default, about 3 times cheaper for
Chromium to encode than PNG; `image_type="png"` keeps them lossless.

Failures: Playwright errors become PortalUnavailableError (via
:func:`bot.errors_playwright.playwright_errors`), a missing source file EvidenceError. Disk errors
propagate as OSError: from :meth:`~EvidenceRecorder.add_file` / :meth:`~EvidenceRecorder.add_trace`
at once, from a background write at the next capture or :meth:`~EvidenceRecorder.flush` (the
item whose file could not be written is dropped from :attr:`~EvidenceRecorder.items`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Locator, Page

from bot.atomic import TEMP_PREFIX, atomic_copy, atomic_write_bytes
from bot.browser import KEPT_TRACE_PREFIX
from bot.errors import EvidenceError
from bot.errors_playwright import playwright_errors
from bot.tracescrub import REDACTED

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


ImageType = Literal["jpeg", "png"]
_SUFFIX: dict[str, str] = {"jpeg": ".jpg", "png": ".png"}
_SEQ_NAME = re.compile(r"^\d{3}-[a-z0-9-]+\.[a-z0-9]+$")
_KIND_OF_SUFFIX = {".png": "screenshot", ".jpg": "screenshot", ".html": "html", ".zip": "trace"}


class EvidenceRecorder:
    """Writes one case's evidence files and keeps its manifest current (see module docstring)."""

    def __init__(self, case_dir: Path, *, clock: Callable[[], datetime] = utc_now,
                 image_type: ImageType = "jpeg", quality: int = 85) -> None:
        """Open (create) `case_dir`, loading its manifest when there is one. A numbered file the
        manifest does not list (a crash between writing it and rewriting the manifest) is
        adopted into the manifest with its hash as found. Raises EvidenceError for a malformed
        manifest, OSError when the folder cannot be created or written."""
        if image_type not in _SUFFIX:
            raise ValueError(f"unknown image type {image_type!r}; expected jpeg or png")
        self.case_dir = case_dir
        self._clock = clock
        self._image_type: ImageType = image_type
        self._quality = quality
        case_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        """Guards `_items`, `_written` and the manifest file (the writer thread and sync adds)."""
        self._written: list[EvidenceItem] = (
            load_manifest(case_dir) if (case_dir / MANIFEST_NAME).exists() else []
        )
        self._adopt_orphans()
        self._items: list[EvidenceItem] = list(self._written)
        self._next_seq = _next_sequence(self._items)
        self._queue: list[tuple[EvidenceItem, bytes]] = []
        self._writer: asyncio.Task[None] | None = None
        self._error: OSError | None = None
        self._secrets: set[str] = set()

    def redact_values(self, values: Iterable[str]) -> None:
        """Remove these strings (the account's password, codes...; 4 characters or more) from
        every later HTML capture, wherever they appear (:data:`bot.tracescrub.REDACTED`)."""
        self._secrets.update(v for v in values if len(v) >= 4)

    @property
    def items(self) -> list[EvidenceItem]:
        """The items recorded so far, in order (a copy), including captures still being
        written (:meth:`flush` first to have them all on disk)."""
        with self._lock:
            return list(self._items)

    @property
    def image_suffix(self) -> str:
        """File suffix of this recorder's screenshots (`.jpg` or `.png`)."""
        return _SUFFIX[self._image_type]

    async def screenshot(self, page: Page, step: str, *, mask: Sequence[Locator] = ()) -> EvidenceItem:
        """Full-page screenshot (JPEG or PNG, see the constructor) of `page` with `mask` locators
        painted over. Raises PortalUnavailableError when the page cannot be captured, OSError
        when an earlier capture could not be written."""
        self._raise_write_error()
        name = self._reserve(step, self.image_suffix)
        url = page.url
        quality = self._quality if self._image_type == "jpeg" else None
        with playwright_errors(f"taking the screenshot '{step}'"):
            data = await page.screenshot(full_page=True, type=self._image_type, quality=quality,
                                         mask=list(mask), animations="disabled")
        return self._enqueue(name, data, kind="screenshot", step=step, url=url)

    async def html(self, page: Page, step: str, *, redact: Sequence[Locator] = ()) -> EvidenceItem:
        """The page's current DOM as HTML, with values of password/one-time-code inputs and of the
        `redact` locators removed (typed values of other fields are kept, so the capture shows
        what was entered), and every value given to :meth:`redact_values` replaced. Raises
        PortalUnavailableError when the page cannot be read, OSError when an earlier capture
        could not be written."""
        self._raise_write_error()
        name = self._reserve(step, ".html")
        url = page.url
        with playwright_errors(f"capturing the HTML '{step}'"):
            for locator in redact:
                await locator.evaluate_all(
                    "(els, mark) => els.forEach((e) => e.setAttribute(mark, ''))", _REDACT_MARK
                )
            content = str(await page.evaluate(_SANITISED_HTML_JS, _REDACT_MARK))
        for secret in sorted(self._secrets, key=len, reverse=True):
            content = content.replace(secret, REDACTED)
        return self._enqueue(name, content.encode("utf-8"), kind="html", step=step, url=url)

    def add_bytes(self, data: bytes, step: str, suffix: str, *, kind: str = "file",
                  url: str | None = None) -> EvidenceItem:
        """Write `data` as a new evidence file now (atomically) and list it in the manifest.
        For captures made elsewhere (e.g. a failed session's last page). Raises OSError."""
        name = self._reserve(step, suffix)
        atomic_write_bytes(self.case_dir / name, data)
        item = EvidenceItem(name, _kind(kind), step, url, self._now(), hashlib.sha256(data).hexdigest(),
                            len(data))
        return self._append(item)

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

    async def flush(self) -> None:
        """Wait until every capture so far is written and listed in the manifest. Raises the
        OSError of a write that failed (once; the item was dropped)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        self._raise_write_error()

    # ---- internals ----------------------------------------------------------------------
    def _reserve(self, step: str, suffix: str) -> str:
        """Take the next sequence number now (before any await) so names never collide."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
        slug = _SLUG.sub("-", step.lower()).strip("-")[:48] or "step"
        return f"{seq:03d}-{slug}{suffix}"

    def _enqueue(self, name: str, data: bytes, *, kind: str, step: str, url: str | None) -> EvidenceItem:
        """Record the item now and hand its bytes to the writer task (started when idle)."""
        item = EvidenceItem(name, kind, step, url, self._now(), hashlib.sha256(data).hexdigest(), len(data))
        with self._lock:
            self._items.append(item)
            self._items.sort(key=lambda i: i.path)
        self._queue.append((item, data))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        return item

    async def _drain(self) -> None:
        """Write queued captures, a batch at a time, in a worker thread."""
        while self._queue:
            batch, self._queue = self._queue, []
            await asyncio.to_thread(self._write_batch, batch)

    def _write_batch(self, batch: list[tuple[EvidenceItem, bytes]]) -> None:
        """Write the files of `batch`, then the manifest once. A file that cannot be written is
        dropped from the items and its error kept for :meth:`_raise_write_error`."""
        done: list[EvidenceItem] = []
        for item, data in batch:
            try:
                # the folder is fsynced once, with the manifest's rename below
                atomic_write_bytes(self.case_dir / item.path, data, sync_dir=False)
                done.append(item)
            except OSError as exc:
                with self._lock:
                    self._items.remove(item)
                    self._error = self._error or exc
        with self._lock:
            self._written.extend(done)
            self._written.sort(key=lambda i: i.path)
            try:
                write_manifest(self.case_dir, self._written)
            except OSError as exc:
                self._error = self._error or exc

    def _raise_write_error(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _append(self, item: EvidenceItem) -> EvidenceItem:
        """List an item whose file is already on disk, and rewrite the manifest."""
        with self._lock:
            self._items.append(item)
            self._items.sort(key=lambda i: i.path)
            self._written.append(item)
            self._written.sort(key=lambda i: i.path)
            write_manifest(self.case_dir, self._written)
        return item

    def _adopt_orphans(self) -> None:
        """List numbered files the manifest lacks (a crash between a file and the manifest)."""
        listed = {item.path for item in self._written}
        orphans = sorted(p for p in self.case_dir.iterdir()
                         if p.is_file() and _SEQ_NAME.match(p.name) and p.name not in listed)
        for path in orphans:
            size, digest = _hash_file(path)
            when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            step = path.stem[4:]
            kind = "upload" if step.startswith("input-") else _KIND_OF_SUFFIX.get(path.suffix, "file")
            self._written.append(EvidenceItem(path.name, kind, step, None, when, digest, size))
        if orphans:
            self._written.sort(key=lambda i: i.path)
            write_manifest(self.case_dir, self._written)

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
