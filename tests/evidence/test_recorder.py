"""EvidenceRecorder with real Chromium: masked screenshots, sanitised HTML, manifest, atomic writes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Page

from bot.atomic import atomic_copy, atomic_write_bytes
from bot.browser import KEPT_TRACE_PREFIX
from bot.errors import EvidenceError
from bot.evidence import MANIFEST_NAME, EvidenceRecorder, check_manifest, verify_manifest
from tests.browser.stub_server import StubServer

pytestmark = pytest.mark.e2e

PASSWORD = "Sup3r-Secret-Pw"

# Counts pixels of one exact colour in a PNG, decoded by the browser itself (no image library).
_COUNT_JS = """
async ([b64, rgb]) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] === rgb[0] && data[i + 1] === rgb[1] && data[i + 2] === rgb[2]) n++;
  }
  return n;
}
"""


async def _count(page: Page, png: Path, rgb: tuple[int, int, int]) -> int:
    b64 = base64.b64encode(await asyncio.to_thread(png.read_bytes)).decode()
    return int(await page.evaluate(_COUNT_JS, [b64, list(rgb)]))


def _fixed_clock() -> datetime:
    return datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


async def test_screenshot_masks_password_and_html_drops_secret_values(
    page: Page, stub: StubServer, tmp_path: Path
) -> None:
    recorder = EvidenceRecorder(tmp_path / "case", clock=_fixed_clock)
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

    # the password box is pure red; masking paints it over (Playwright's mask colour is magenta)
    red = (255, 0, 0)
    assert await _count(page, tmp_path / "case" / plain.path, red) > 10_000
    assert await _count(page, tmp_path / "case" / masked.path, red) == 0
    assert await _count(page, tmp_path / "case" / masked.path, (255, 0, 255)) > 10_000

    item = await recorder.html(page, "login form", redact=[page.locator("#token")])
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
