"""Evidence uploads through the portal's upload widget (refund form and counter-offer modal).

An upload counts only when its thumbnail shows with a background image. Draft uploads left by
an earlier attempt are removed first, so the request carries exactly the files given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Locator, expect

from bot.errors import EvidenceError, PortalUnavailableError
from bot.errors_playwright import playwright_errors
from flows.pack import Root
from flows.pages.base import PortalPage

_BACKGROUND_COUNT = (
    "els => els.filter(e => (getComputedStyle(e).backgroundImage || '').startsWith('url(')).length"
)
"""Counts elements showing a background image (how an accepted upload's thumbnail looks)."""


@dataclass(frozen=True)
class UploadKeys:
    """Pack keys of one upload widget."""

    file_input: str
    thumb: str
    error: str = "refund_upload_error"
    remove: str = "upload_remove"


class Uploader:
    """Uploads files through one widget inside `root` of a page object."""

    def __init__(self, page: PortalPage, root: Root | None, keys: UploadKeys) -> None:
        self.page = page
        self.root: Root = root if root is not None else page.page
        self.keys = keys
        self.pack = page.pack

    def thumbs(self) -> Locator:
        """Every thumbnail of the widget."""
        return self.pack.locator(self.root, self.keys.thumb)

    def errors(self) -> Locator:
        """Every upload error line of the widget."""
        return self.pack.locator(self.root, self.keys.error)

    async def upload(self, files: list[Path]) -> int:
        """Upload `files`; returns how many thumbnails with an image show (== len(files)).

        A refusal by the portal (type, size, count) raises EvidenceError with the portal's text;
        a passing failure ("Upload failed") is retried up to `navigation_retries` times, then
        PortalUnavailableError. Missing thumbnails without an error also raise EvidenceError.
        """
        if not files:
            return 0
        attempts = self.page.env.settings.navigation_retries + 1
        for attempt in range(attempts):
            await self.clear()
            failures = await self._upload_once(files)
            if not failures:
                shown = await self._shown()
                if shown != len(files):
                    raise EvidenceError(f"{shown} of {len(files)} uploads show a thumbnail", shown=shown,
                                        expected=len(files))
                await self.page.snap("evidence-uploaded")
                return shown
            transient = self.pack.model.messages.upload_failed
            refused = [f for f in failures if not self.pack.matches_any(f, transient)]
            if refused:
                await self.page.snap("evidence-refused")
                raise EvidenceError("the portal refused an evidence file: " + "; ".join(refused),
                                    portal_messages=refused)
            if attempt + 1 == attempts:
                raise PortalUnavailableError("evidence upload kept failing: " + "; ".join(failures))
        raise AssertionError("unreachable")

    async def clear(self) -> None:
        """Remove draft uploads left by an earlier attempt."""
        removers = self.pack.locator(self.root, self.keys.remove)
        with playwright_errors("removing earlier draft uploads"):
            while (count := await self.thumbs().count()) > 0 and await removers.count() > 0:
                await removers.first.click(timeout=self.page.env.action_ms)
                await expect(self.thumbs()).to_have_count(count - 1, timeout=self.page.env.action_ms)

    async def _upload_once(self, files: list[Path]) -> list[str]:
        box = await self.page.find(self.keys.file_input, root=self.root)
        before = await self.thumbs().count()
        with playwright_errors("choosing the evidence files"):
            await box.first.set_input_files([str(f) for f in files], timeout=self.page.env.action_ms)
        done = self.thumbs().or_(self.errors())
        timeout = self.page.env.confirm_ms
        try:
            with playwright_errors("waiting for the uploads"):
                finished = await self.page.unless_navigated(
                    expect(done).to_have_count(before + len(files), timeout=timeout), timeout)
        except AssertionError:
            finished = False
        if not finished:
            await self.page.check_blockers()
            failures = await self._error_texts()
            if failures:
                return failures
            raise PortalUnavailableError("the uploads did not finish in time")
        return await self._error_texts()

    async def _error_texts(self) -> list[str]:
        with playwright_errors("reading upload errors"):
            return [t.strip() for t in await self.errors().all_inner_texts() if t.strip()]

    async def _shown(self) -> int:
        with playwright_errors("checking the thumbnails"):
            shown: int = await self.thumbs().evaluate_all(_BACKGROUND_COUNT)
        return shown
