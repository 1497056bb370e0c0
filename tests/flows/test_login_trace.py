"""Issue 13, finding 3: a trace recorded around a real login (sandbox, emailed code over IMAP)
never shows the password or the code in a screencast frame.

The test holds the form's POST (password or code) so the page stays on screen with the secret
typed in, stops the trace there, then decodes EVERY image frame (with Chromium's own JPEG decoder,
no extra dependency) and looks at the typed field's pixels: they must be one flat colour, no
glyph, no dot, no caret. Checked twice: on the raw trace (the field mask of the login flow alone)
and on the kept trace (the scrubber, which also drops the frames of the typing window), whose
text entries must not hold the password or the code either.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, Route
from playwright.async_api import Error as PlaywrightError

from bot.browser import start_tracing
from bot.sessions import secrets_of
from bot.tracescrub import scrub_trace
from flows.login import log_in
from tests.flows.conftest import Portal

GLYPH_SPREAD = 48
"""Luminance spread (0-255) inside a field above which something is drawn in it (text is ~150+;
JPEG noise on a flat field stays under ~15)."""
INSET = 6
"""CSS pixels left out at each edge of the field's box (border, focus ring, rounded corners)."""

_DECODE_JS = """async ([src, box]) => {
    const img = new Image();
    img.src = src;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const g = canvas.getContext("2d");
    g.drawImage(img, 0, 0);
    if (!box) return {width: canvas.width, height: canvas.height, spread: null};
    const sx = canvas.width / box.vw, sy = canvas.height / box.vh;
    const x = Math.round((box.x + box.inset) * sx), y = Math.round((box.y + box.inset) * sy);
    const w = Math.max(1, Math.round((box.width - 2 * box.inset) * sx));
    const h = Math.max(1, Math.round((box.height - 2 * box.inset) * sy));
    const d = g.getImageData(x, y, w, h).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4) {
        const l = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        lo = Math.min(lo, l); hi = Math.max(hi, l);
    }
    return {width: canvas.width, height: canvas.height, spread: hi - lo};
}"""


class _RecordingCodes:
    """The real IMAP code source, remembering the codes it handed out (for the text checks)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.codes: list[str] = []

    async def wait_for_code(
        self,
        mailbox_user: str,
        mailbox_password: str,
        *,
        since: datetime,
        timeout_s: float,
        pattern: str,
        sender: str | None,
    ) -> str:
        code: str = await self.inner.wait_for_code(
            mailbox_user, mailbox_password, since=since, timeout_s=timeout_s, pattern=pattern, sender=sender
        )
        self.codes.append(code)
        return code


def _events(trace: Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(trace) as archive:
        lines = archive.read("trace.trace").decode().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _typing(events: list[dict[str, Any]], secret: str) -> tuple[float, float, dict[str, float]]:
    """Start, end and box (CSS px) of the `fill` that typed `secret` (read from the raw trace)."""
    before = next(
        e
        for e in events
        if e.get("type") == "before"
        and e.get("method") == "fill"
        and e.get("params", {}).get("value") == secret
    )
    call = before["callId"]
    box = next(e["box"] for e in events if e.get("type") == "input" and e.get("callId") == call)
    end = next(e["endTime"] for e in events if e.get("type") == "after" and e.get("callId") == call)
    return before["startTime"], end, box


async def _frames(decoder: Page, trace: Path, box: dict[str, float], after: float) -> list[tuple[float, Any]]:
    """Decode every screencast frame of `trace`; for frames recorded at or after `after`, the
    luminance spread inside `box` (else None). Returns (timestamp, spread) per frame."""
    results: list[tuple[float, Any]] = []
    with zipfile.ZipFile(trace) as archive:
        for event in _events(trace):
            if event.get("type") != "screencast-frame":
                continue
            name = event.get("file") or f"resources/{event['sha1']}"
            src = "data:image/jpeg;base64," + base64.b64encode(archive.read(name)).decode()
            crop = (
                {**box, "vw": event["width"], "vh": event["height"], "inset": INSET}
                if event["timestamp"] >= after
                else None
            )
            decoded = await decoder.evaluate(_DECODE_JS, [src, crop])
            assert decoded["width"] > 0 and decoded["height"] > 0, name
            results.append((event["timestamp"], decoded["spread"]))
    return results


@pytest.mark.parametrize("secret", ["password", "code"])
async def test_trace_frames_never_show_a_secret(
    portal: Portal, fresh_context: Callable[[], Any], tmp_path: Path, secret: str
) -> None:
    env = portal.env()
    creds = portal.creds("cody@buyer.test")
    codes = _RecordingCodes(portal.code_source())
    context: BrowserContext = await fresh_context()
    page = await context.new_page()
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(route: Route) -> None:
        request = route.request
        verify = "/login/verify" in request.url
        if request.method == "POST" and verify == (secret == "code"):
            held.set()  # the secret is typed and submitted: keep the page on screen with it
            await release.wait()
            with contextlib.suppress(PlaywrightError):
                await route.abort()
            return
        with contextlib.suppress(PlaywrightError):
            await route.continue_()

    await page.route("**/*", hold)
    await start_tracing(context)
    raw = tmp_path / "raw.zip"
    login = asyncio.create_task(log_in(page, env, creds, code_source=codes))
    try:
        await asyncio.wait_for(held.wait(), timeout=60)
        await context.tracing.stop(path=raw)
    finally:
        release.set()
        login.cancel()
        with contextlib.suppress(BaseException):
            await login
    typed = creds.password if secret == "password" else codes.codes[-1]

    # the trace is kept the way the engine keeps it
    kept = tmp_path / "kept.zip"
    scrub_trace(raw, kept, secrets=secrets_of(creds))

    start, end, box = _typing(_events(raw), typed)
    decoder = await (await fresh_context()).new_page()

    # 1. the mask alone: in the raw trace, frames after the typing show a blank field
    raw_frames = await _frames(decoder, raw, box, after=end)
    shown = [spread for _, spread in raw_frames if spread is not None]
    assert shown, "no frame was recorded after the secret was typed (nothing to check)"
    assert all(spread < GLYPH_SPREAD for spread in shown), f"the {secret} field shows text: {shown}"

    # 2. the kept trace: no frame inside the typing window, every frame left blank in the field,
    #    frames before the login kept (the trace stays useful), no secret in any text entry
    kept_frames = await _frames(decoder, kept, box, after=end)
    assert any(at < start for at, _ in kept_frames), "the kept trace lost every frame"
    assert not [at for at, _ in kept_frames if at >= start], "frames of the typing window were kept"
    with zipfile.ZipFile(kept) as archive:
        blob = b"".join(archive.read(n) for n in archive.namelist() if not n.endswith(".jpeg"))
    for value in (creds.password, *codes.codes):
        assert value.encode() not in blob
