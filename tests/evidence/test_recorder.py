"""EvidenceRecorder with real Chromium: masked screenshots, sanitised HTML, manifest, atomic writes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from bot.atomic import atomic_copy, atomic_write_bytes
from bot.browser import KEPT_TRACE_PREFIX
from bot.errors import EvidenceError
from bot.evidence import MANIFEST_NAME, EvidenceRecorder, check_manifest, load_manifest, verify_manifest
from tests.browser.stub_server import StubServer

pytestmark = pytest.mark.e2e

PASSWORD = "Sup3r-Secret-Pw"

# Counts the pixels within `tol` of one colour in an image, decoded by the browser itself.
_NEAR_RGB_JS = """
async ([b64, mime, rgb, tol]) => {
  const img = new Image();
  img.src = 'data:' + mime + ';base64,' + b64;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - rgb[0]) <= tol && Math.abs(data[i + 1] - rgb[1]) <= tol
        && Math.abs(data[i + 2] - rgb[2]) <= tol) n++;
  }
  return n;
}
"""


async def _count(page: Page, png: Path, rgb: tuple[int, int, int]) -> int:
    b64 = base64.b64encode(await asyncio.to_thread(png.read_bytes)).decode()
    return int(await page.evaluate(_NEAR_RGB_JS, [b64, "image/png", list(rgb), 0]))  # exact colour


def _fixed_clock() -> datetime:
    return datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


async def test_screenshot_masks_password_and_html_drops_secret_values(
    page: Page, stub: StubServer, tmp_path: Path
) -> None:
    recorder = EvidenceRecorder(tmp_path / "case", clock=_fixed_clock, image_type="png")  # exact pixels
    await page.goto(f"{stub.base_url}/login")
    await page.fill("#user", "buyer@example.com")
    await page.fill("#pw", PASSWORD)
    await page.fill("#code", "482913")
    await page.fill("#note", "parcel never arrived")

    plain = await recorder.screenshot(page, "Login form (unmasked)")
    masked = await recorder.screenshot(page, "login form", mask=[page.locator("#pw")])
    assert plain.path == "001-login-form-unmasked.png" and masked.path == "002-login-form.png"
    assert masked.kind == "screenshot" and masked.url == f"{stub.base_url}/login"
    assert masked.captured_at == _fixed_clock()
    await recorder.flush()

    # the password box is pure red; masking paints it over (Playwright's mask colour is magenta)
    red = (255, 0, 0)
    assert await _count(page, tmp_path / "case" / plain.path, red) > 10_000
    assert await _count(page, tmp_path / "case" / masked.path, red) == 0
    assert await _count(page, tmp_path / "case" / masked.path, (255, 0, 255)) > 10_000

    item = await recorder.html(page, "login form", redact=[page.locator("#token")])
    await recorder.flush()
    text = (tmp_path / "case" / item.path).read_text()
    assert item.path == "003-login-form.html" and item.kind == "html"
    assert text.startswith("<!DOCTYPE html>")
    assert PASSWORD not in text and "preset-attr-secret" not in text
    assert "482913" not in text  # one-time-code input
    assert "token-in-text-9137" not in text  # redacted by locator
    assert 'value="buyer@example.com"' in text and "parcel never arrived" in text
    assert 'id="pw"' in text  # the field itself is still shown
    # the live page is untouched
    assert await page.input_value("#pw") == PASSWORD
    assert await page.locator("[data-recoup-redact]").count() == 0


async def test_manifest_verifies_and_reports_tampering(page: Page, stub: StubServer, tmp_path: Path) -> None:
    case = tmp_path / "case"
    recorder = EvidenceRecorder(case)
    await page.goto(f"{stub.base_url}/page?title=Order")
    shot = await recorder.screenshot(page, "order")
    html = await recorder.html(page, "order")
    photo = tmp_path / "Photo One.JPG"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"jpegdata" * 100)
    upload = recorder.add_file(photo)
    await recorder.flush()
    assert shot.path == "001-order.jpg" and html.path == "002-order.html"  # JPEG by default
    assert upload.path == "003-input-photo-one.jpg" and upload.kind == "upload"
    assert upload.sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()

    manifest = json.loads((case / MANIFEST_NAME).read_text())
    assert [m["path"] for m in manifest] == [shot.path, html.path, upload.path]
    assert set(manifest[0]) == {"path", "kind", "step", "url", "captured_at", "sha256", "size"}
    assert datetime.fromisoformat(manifest[0]["captured_at"]).tzinfo is not None
    assert manifest[0]["sha256"] == hashlib.sha256((case / shot.path).read_bytes()).hexdigest()
    assert verify_manifest(case) == []
    assert not [p for p in case.iterdir() if p.name.startswith(".tmp-")]

    # a new recorder on the same folder continues the numbering
    again = EvidenceRecorder(case)
    assert len(again.items) == 3
    fourth = await again.screenshot(page, "retry")
    assert fourth.path.startswith("004-")
    await again.flush()

    (case / html.path).write_text("<p>forged</p>")
    (case / upload.path).unlink()
    (case / "planted.png").write_bytes(b"x")
    problems = verify_manifest(case)
    assert len(problems) == 3, problems
    assert any(p.startswith("mismatch") and html.path in p for p in problems)
    assert any(p.startswith("missing") and upload.path in p for p in problems)
    assert any(p.startswith("extra") and "planted.png" in p for p in problems)


def test_verify_reports_broken_manifest_and_escaping_paths(tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    assert verify_manifest(case)[0].startswith("manifest")
    (case / MANIFEST_NAME).write_text("{oops")
    assert "malformed" in verify_manifest(case)[0]
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    entry = {
        "path": "../outside.txt",
        "kind": "file",
        "step": "s",
        "url": None,
        "captured_at": "2026-01-01T00:00:00+00:00",
        "sha256": hashlib.sha256(b"x").hexdigest(),
        "size": 1,
    }
    (case / MANIFEST_NAME).write_text(json.dumps([entry]))
    assert verify_manifest(case) == ["unsafe: ../outside.txt: points outside the case folder"]


def test_add_file_and_trace(tmp_path: Path) -> None:
    recorder = EvidenceRecorder(tmp_path / "case")
    with pytest.raises(EvidenceError, match="missing"):
        recorder.add_file(tmp_path / "nope.png")
    trace = tmp_path / "t.zip"
    trace.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    item = recorder.add_trace(trace, "failure trace")
    assert item.kind == "trace" and item.path == "001-failure-trace.zip"
    assert stat.S_IMODE((tmp_path / "case" / item.path).stat().st_mode) == 0o600
    assert verify_manifest(tmp_path / "case") == []


def test_a_kept_failure_trace_is_adopted_into_the_manifest(tmp_path: Path) -> None:
    """Issue 9: the trace a failed browser session leaves in the case folder is listed in the
    manifest (numbered, hashed, 0600) instead of being an unlisted extra file."""
    case = tmp_path / "case"
    recorder = EvidenceRecorder(case)
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n")
    recorder.add_file(photo)
    kept = case / f"{KEPT_TRACE_PREFIX}20260101T000000000000Z.zip"
    kept.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert [(p.kind, p.path) for p in check_manifest(case)] == [("extra", kept.name)]
    [item] = recorder.adopt_traces()
    assert (item.kind, item.path) == ("trace", "002-failure-trace.zip")
    assert not kept.exists()
    assert stat.S_IMODE((case / item.path).stat().st_mode) == 0o600
    assert verify_manifest(case) == []
    assert recorder.adopt_traces() == []


def test_atomic_write_mode_from_creation_and_no_temp_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    old_umask = os.umask(0)  # even with a permissive umask the temp file is 0600
    try:
        atomic_write_bytes(tmp_path / "secret.json", b"{}", mode=0o600)
    finally:
        os.umask(old_umask)
    assert seen == [0o600]
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o600

    # a failing write (target is a folder) removes its temp file and raises
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "folder", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "secret.json"]


def test_atomic_copy_hashes_what_it_wrote_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    src.write_bytes(b"x" * 3000)
    out = tmp_path / "out"
    out.mkdir()
    digest = atomic_copy(src, out / "copy.png", mode=0o600, chunk=1024)  # three chunks
    assert digest == hashlib.sha256(b"x" * 3000).hexdigest()
    assert (out / "copy.png").read_bytes() == b"x" * 3000
    assert stat.S_IMODE((out / "copy.png").stat().st_mode) == 0o600

    with pytest.raises(FileNotFoundError):  # the source vanished: no temp file, old copy kept
        atomic_copy(tmp_path / "gone.png", out / "copy.png")
    assert [p.name for p in out.iterdir()] == ["copy.png"]
    assert (out / "copy.png").read_bytes() == b"x" * 3000


# ---- speed: background writes, batched manifest, JPEG (issue 10) ----------------------------------


async def test_jpeg_screenshot_still_masks_the_password(page: Page, stub: StubServer, tmp_path: Path) -> None:
    """The default JPEG screenshots paint the mask over the password box like the PNG ones."""
    recorder = EvidenceRecorder(tmp_path / "case")
    await page.goto(f"{stub.base_url}/login")
    await page.fill("#pw", PASSWORD)
    plain = await recorder.screenshot(page, "plain")
    masked = await recorder.screenshot(page, "masked", mask=[page.locator("#pw")])
    await recorder.flush()
    assert masked.path.endswith(".jpg")

    async def near(item_path: str, rgb: tuple[int, int, int]) -> int:
        data = await asyncio.to_thread((tmp_path / "case" / item_path).read_bytes)
        assert data[:3] == b"\xff\xd8\xff"  # a JPEG
        return int(await page.evaluate(_NEAR_RGB_JS, [base64.b64encode(data).decode(), "image/jpeg",
                                                      [255, 0, 0], 40]))

    assert await near(plain.path, (255, 0, 0)) > 10_000
    assert await near(masked.path, (255, 0, 0)) < 100
    assert verify_manifest(tmp_path / "case") == []


async def test_captures_are_written_in_the_background_and_flush_waits(
    page: Page, stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture returns before its file is written; captures that queue up while a file is
    being written are written as one batch with ONE manifest rewrite; after flush() the folder
    verifies and every file has the hash its item announced."""
    import bot.evidence as evidence_module

    rewrites: list[int] = []
    real_write_manifest = evidence_module.write_manifest
    real_write = evidence_module.atomic_write_bytes
    release = threading.Event()

    def counting(case_dir: Path, items: object) -> None:
        rewrites.append(len(list(items)))  # type: ignore[call-overload]
        real_write_manifest(case_dir, items)  # type: ignore[arg-type]

    def slow_first(path: Path, data: bytes, **options: Any) -> None:
        release.wait(10)  # the disk is slow: the first file blocks until released
        real_write(path, data, **options)

    monkeypatch.setattr(evidence_module, "write_manifest", counting)
    monkeypatch.setattr(evidence_module, "atomic_write_bytes", slow_first)
    case = tmp_path / "case"
    recorder = EvidenceRecorder(case)
    await page.goto(f"{stub.base_url}/page?title=Order")
    items = [await recorder.html(page, f"step {i}") for i in range(5)]  # none waits for the disk
    assert len(recorder.items) == 5  # listed at once, with their hashes
    assert not (case / items[0].path).exists()
    release.set()
    await recorder.flush()
    assert verify_manifest(case) == []
    assert [i.path for i in load_manifest(case)] == [i.path for i in items]
    assert rewrites == [1, 5]  # the first file alone, then the four that queued up meanwhile
    for item in items:
        assert hashlib.sha256((case / item.path).read_bytes()).hexdigest() == item.sha256


async def test_a_failed_background_write_is_raised_and_the_item_dropped(
    page: Page, stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.evidence as evidence_module

    case = tmp_path / "case"
    recorder = EvidenceRecorder(case)
    await page.goto(f"{stub.base_url}/page?title=Order")
    good = await recorder.html(page, "good")
    await recorder.flush()

    def disk_full(path: Path, data: bytes, **options: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(evidence_module, "atomic_write_bytes", disk_full)
    await recorder.html(page, "lost")
    with pytest.raises(OSError, match="No space"):
        await recorder.flush()
    assert [i.path for i in recorder.items] == [good.path]
    monkeypatch.undo()
    await recorder.flush()  # raised once
    assert verify_manifest(case) == []


def test_a_file_written_just_before_a_crash_is_adopted_by_the_next_recorder(tmp_path: Path) -> None:
    """A crash between a file landing and the manifest rewrite leaves a numbered file the
    manifest lacks; the next recorder (the next attempt) lists it, so the folder verifies."""
    case = tmp_path / "case"
    recorder = EvidenceRecorder(case)
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n")
    recorder.add_file(photo)
    atomic_write_bytes(case / "002-cancel-result.jpg", b"\xff\xd8\xff jpeg bytes")  # no manifest
    assert [p.kind for p in check_manifest(case)] == ["extra"]
    again = EvidenceRecorder(case)
    assert verify_manifest(case) == []
    adopted = again.items[-1]
    assert (adopted.path, adopted.kind, adopted.step) == (
        "002-cancel-result.jpg", "screenshot", "cancel-result")
    assert (again.case_dir / "002-cancel-result.jpg").exists()


async def test_redacted_values_never_reach_an_html_capture(
    page: Page, stub: StubServer, tmp_path: Path
) -> None:
    recorder = EvidenceRecorder(tmp_path / "case")
    recorder.redact_values(["Order", "ab"])  # "ab": too short to be a secret, left alone
    await page.goto(f"{stub.base_url}/page?title=Order")
    item = await recorder.html(page, "page")
    await recorder.flush()
    text = (tmp_path / "case" / item.path).read_text()
    assert "Order" not in text and "[redacted]" in text
