"""Fixtures of the flow tests: a sandbox per layout (reset per test), settings pointing at it,
a FlowEnv with an evidence folder, the accounts' credentials and the IMAP code source."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from bot.config import Settings
from bot.evidence import EvidenceRecorder
from bot.mail.codes import ImapCodeSource
from flows.env import FlowEnv
from flows.login import Credentials
from flows.pack import load_pack
from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox


@dataclass
class Portal:
    """One running sandbox (reset for the test) plus what the flows need to talk to it."""

    sb: RunningSandbox
    layout: str
    settings: Settings
    mail: MailServer

    def creds(self, email: str) -> Credentials:
        acc = next(a for a in self.sb.scenario.accounts if a.email == email)
        return Credentials(email=acc.email, password=acc.password, totp_secret=acc.totp_secret,
                           mailbox_user=acc.email, mailbox_password=acc.mailbox_password)

    def env(self, case_dir: Path | None = None, **overrides: Any) -> FlowEnv:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        recorder = EvidenceRecorder(case_dir) if case_dir is not None else None
        shots = settings.data_dir / "shots"
        return FlowEnv(load_pack(settings), settings, evidence=recorder, shots_dir=shots)

    def code_source(self) -> ImapCodeSource:
        return ImapCodeSource(self.settings, poll_interval_s=0.3)

    def counts(self, order_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.sb.admin.submissions(order_id)
        return result


def make_settings(sb: RunningSandbox, mail: MailServer, data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        portal_base_url=sb.url,
        portal_login_base_url=sb.login_base,
        action_timeout_ms=5_000,
        navigation_timeout_ms=10_000,
        confirm_timeout_ms=10_000,
        imap_host=mail.host,
        imap_port=mail.imap_port,
        imap_ssl=False,
        login_code_timeout_s=30,
        **extra,
    )


ONLY_A = pytest.mark.parametrize("portal", ["a"], indirect=True)
"""Run a test on layout A only (behaviour that does not depend on the layout)."""
ONLY_B = pytest.mark.parametrize("portal", ["b"], indirect=True)
"""Run a test on layout B only."""


@pytest.fixture(params=["a", "b"])
def portal(request: pytest.FixtureRequest, mail_server: MailServer, tmp_path: Path) -> Portal:
    """The sandbox in layout A and in layout B (other class hashes), reset for this test."""
    sb: RunningSandbox = request.getfixturevalue("sandbox" if request.param == "a" else "sandbox_b")
    sb.admin.reset()
    return Portal(sb, request.param, make_settings(sb, mail_server, tmp_path / "data"), mail_server)


@pytest.fixture
def portal_a(sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path) -> Portal:
    """Layout A only, reset for this test."""
    sandbox.admin.reset()
    return Portal(sandbox, "a", make_settings(sandbox, mail_server, tmp_path / "data"), mail_server)


@pytest.fixture
async def fresh_context(browser: Browser) -> AsyncIterator[Callable[[], Any]]:
    """Factory of new browser contexts (closed at the end of the test)."""
    made: list[BrowserContext] = []

    async def make() -> BrowserContext:
        ctx = await browser.new_context(locale="en-US", timezone_id="UTC")
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        await ctx.close()


@pytest.fixture
async def tab(fresh_context: Callable[[], Any]) -> Page:
    """A page in a new context of the session's Chromium."""
    ctx: BrowserContext = await fresh_context()
    page: Page = await ctx.new_page()
    return page


def png_bytes(width: int = 16, height: int = 16, *, pad_to: int = 0) -> bytes:
    """A valid PNG (red square); `pad_to` appends bytes after IEND to reach a size."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return data + b"\x00" * max(0, pad_to - len(data))


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    """A case's evidence folder with two small photos (`photo1.png`, `photo2.png`)."""
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "photo1.png").write_bytes(png_bytes(12, 12))
    (folder / "photo2.png").write_bytes(png_bytes(20, 10))
    return folder
