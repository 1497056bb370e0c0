"""The HTML evidence report and the zip bundle, opened in real Chromium."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.async_api import Dialog, Page, Request, expect

from bot.errors import EvidenceError
from bot.evidence import MANIFEST_NAME, EvidenceRecorder
from bot.report import ReportCase, bundle_case, render_case_report
from tests.browser.stub_server import StubServer

pytestmark = pytest.mark.e2e

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _case(**overrides: object) -> ReportCase:
    data: dict[str, object] = {
        "account": "buyer.one@example.com",
        "order_id": "3042417938137135",
        "kind": "refund",
        "state": "submitted",
        "reason": "Tracked as returned/canceled/lost",
        "amount": Decimal("12.34"),
        "currency": "USD",
        "refund_type": "refund_only",
        "message": f"The parcel never arrived.\nSeller wrote: {XSS}",
        "created_at": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        "case_id": "42",
        "portal": "aliexpress",
        "events": [
            (datetime(2026, 3, 1, 9, 30, tzinfo=UTC), None, "queued", "created by operator"),
            (datetime(2026, 3, 1, 9, 31, tzinfo=UTC), "queued", "running", None),
            (datetime(2026, 3, 1, 9, 33, tzinfo=UTC), "running", "submitted", f"portal said {XSS}"),
        ],
    }
    data.update(overrides)
    return ReportCase.model_validate(data)


async def _record_case(page: Page, stub: StubServer, case_dir: Path, tmp_path: Path) -> EvidenceRecorder:
    recorder = EvidenceRecorder(case_dir)
    steps = [
        ("Order detail", "Order 3042417938137135 · Awaiting delivery · US $12.34"),
        ("Refund form filled", "Reason: Tracked as returned/canceled/lost · Refund only"),
        ("Request submitted", f"Waiting for the seller's response {XSS}"),
    ]
    await page.set_viewport_size({"width": 1000, "height": 600})
    for title, body in steps:
        await page.goto(f"{stub.base_url}/page?title={title}&body={body}")
        await recorder.screenshot(page, title)
    await recorder.html(page, "request submitted")
    await recorder.flush()
    photo = tmp_path / "parcel-photo.jpg"
    shutil.copy(case_dir / recorder.items[0].path, photo)
    recorder.add_file(photo, step="evidence")
    return recorder


async def test_report_is_self_contained_escaped_and_bundled(
    page: Page, stub: StubServer, tmp_path: Path
) -> None:
    case_dir = tmp_path / "case-42"
    recorder = await _record_case(page, stub, case_dir, tmp_path)
    report = render_case_report(_case(), recorder.items, case_dir)
    assert report == case_dir / "report.html"
    text = report.read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("data:image/jpeg;base64,") == 4  # 3 screenshots (JPEG) + the attached photo
    assert "http://" not in text.replace(stub.base_url, "")  # no external references besides page URLs

    dialogs: list[Dialog] = []
    requests: list[Request] = []
    page.on("dialog", lambda d: dialogs.append(d))
    page.on("request", lambda r: requests.append(r))
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(report.as_uri())
    await expect(page.get_by_role("heading", level=1)).to_contain_text("order 3042417938137135")
    await expect(page.get_by_text(XSS).first).to_be_visible()  # the literal text is shown
    assert await page.locator("img[src='x']").count() == 0
    assert await page.locator("script").count() == 0
    assert dialogs == []
    assert all(r.url.startswith(("file://", "data:")) for r in requests), [r.url for r in requests]
    for item in recorder.items:
        await expect(page.get_by_text(item.sha256).first).to_be_visible()
    await expect(page.get_by_text("sha256sum -c SHA256SUMS")).to_be_visible()
    await expect(page.get_by_text("2026-03-01 09:33:00 UTC")).to_be_visible()

    preview_dir = Path(os.environ.get("REPORT_PREVIEW_DIR", tmp_path))
    await asyncio.to_thread(preview_dir.mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=preview_dir / "report-preview.png", full_page=True)

    # pure-CSS zoom: clicking a thumbnail enlarges it, clicking again closes it
    thumb = page.locator("label.thumb").first
    await thumb.click()
    await expect(thumb).to_have_css("position", "fixed")
    await page.screenshot(path=preview_dir / "report-zoomed.png")
    await thumb.click()
    await expect(thumb).to_have_css("position", "static")
    assert dialogs == []

    bundle = bundle_case(case_dir)
    manifest = json.loads((case_dir / MANIFEST_NAME).read_text())
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert names == {m["path"] for m in manifest} | {"manifest.json", "report.html", "SHA256SUMS"}
        for entry in manifest:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        archive.extractall(tmp_path / "unpacked")
    proc = await asyncio.create_subprocess_exec(
        "sha256sum",
        "-c",
        "SHA256SUMS",
        cwd=tmp_path / "unpacked",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, out
    assert out.count(": OK") == len(manifest)


async def test_bundle_refuses_tampered_or_unrendered_evidence(
    page: Page, stub: StubServer, tmp_path: Path
) -> None:
    case_dir = tmp_path / "case"
    recorder = EvidenceRecorder(case_dir)
    await page.goto(f"{stub.base_url}/page?title=Only")
    item = await recorder.screenshot(page, "only")
    await recorder.flush()
    with pytest.raises(EvidenceError, match="render the report first"):
        bundle_case(case_dir)
    render_case_report(_case(events=[]), recorder.items, case_dir)
    (case_dir / "stray.txt").write_text("not evidence")  # extras are left out, not fatal
    with zipfile.ZipFile(bundle_case(case_dir)) as archive:
        assert "stray.txt" not in archive.namelist()
    (case_dir / item.path).write_bytes(b"forged")
    with pytest.raises(EvidenceError, match="fails verification: mismatch"):
        bundle_case(case_dir)


def test_report_case_accepts_dicts_objects_and_missing_files(tmp_path: Path) -> None:
    case = _case()
    assert case.events[1].detail == "" and case.events[0].from_state is None

    row = SimpleNamespace(
        account="a@example.com",
        order_id="1234567890123456",
        kind="cancel",
        state="needs_human",
        reason=None,
        amount=None,
        currency=None,
        refund_type=None,
        message=None,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        events=[],
    )

    from bot.evidence import EvidenceItem

    ghost = EvidenceItem(
        "001-gone.png",
        "screenshot",
        "gone",
        "javascript:alert(1)",
        datetime(2026, 1, 1, tzinfo=UTC),
        "0" * 64,
        10,
    )
    weird = EvidenceItem(
        "javascript:alert(1)", "file", "odd", None, datetime(2026, 1, 1, tzinfo=UTC), "1" * 64, 1
    )
    report = render_case_report(row, [ghost, weird], tmp_path)
    text = report.read_text()
    assert "cancellation of order 1234567890123456" in text
    assert "file missing" in text
    assert 'href="javascript:' not in text
