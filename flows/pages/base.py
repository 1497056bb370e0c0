"""The base of every page object: guarded navigation and clicks, overlays, evidence.

After every navigation and click, :meth:`PortalPage.settle` runs the same checks in order:
the page loaded (a 5xx document raises PortalUnavailableError), no slider challenge
(ChallengeRequiredError with a screenshot), no bounce to the login page (SessionExpiredError),
the cookie banner accepted, the chat robot closed, the loading overlay gone, then a screenshot
when the case keeps evidence. Challenge markers, cookie banner, chat robot and loading overlay
are first looked for with ONE count of all their alternatives; only when something shows are
they checked (and waited for) one by one. Every wait is bounded by a timeout from the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from loguru import logger
from playwright.async_api import Locator, Page, Response
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import (
    ChallengeRequiredError,
    LocatorMissingError,
    PortalUnavailableError,
    RecoupError,
    SessionExpiredError,
)
from bot.errors_playwright import playwright_errors, raise_for_status
from flows.env import FlowEnv
from flows.pack import Param, Root


class _NavStatus:
    """Remembers the HTTP status of the last main-frame document the page loaded."""

    def __init__(self, page: Page) -> None:
        self.status: int | None = None
        self.url: str = ""
        self.method: str = "GET"
        page.on("response", self._seen)
        self._page = weakref.ref(page)

    def _seen(self, response: Response) -> None:
        page = self._page()
        request = response.request
        if page is not None and request.is_navigation_request() and request.frame == page.main_frame:
            self.status, self.url, self.method = response.status, response.url, request.method


_TRACKERS: weakref.WeakKeyDictionary[Page, _NavStatus] = weakref.WeakKeyDictionary()


def _tracker(page: Page) -> _NavStatus:
    tracker = _TRACKERS.get(page)
    if tracker is None:
        tracker = _TRACKERS[page] = _NavStatus(page)
    return tracker


_BLOCKER_KEYS = ("challenge", "cookie_accept", "chat_robot_close", "loading_overlay")
"""Elements :meth:`PortalPage.settle` deals with when shown (all with state `visible`); one
count finds whether any is."""


class PortalPage:
    """Wraps a Page; subclasses create their locators from the pack and add async actions.

    Each class declares in `REQUIRED_KEYS` the pack locator keys it uses (its own, not the
    inherited ones: :meth:`required_keys` adds those); :mod:`flows.registry` refuses at load a
    pack that lacks one (PackError naming the key and the class)."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "challenge", "chat_robot_close", "cookie_accept", "loading_overlay", "mask"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    @classmethod
    def required_keys(cls) -> frozenset[str]:
        """The keys this class and its bases declare."""
        keys: frozenset[str] = frozenset()
        for klass in cls.__mro__:
            keys |= vars(klass).get("REQUIRED_KEYS", frozenset())
        return keys

    def __init__(self, page: Page, env: FlowEnv) -> None:
        self.page = page
        self.env = env
        self.pack = env.pack
        self._nav = _tracker(page)

    # ---- locating --------------------------------------------------------------------------
    async def find(self, key: str, *, root: Root | None = None, timeout_ms: float | None = None,
                   **params: Param) -> Locator:
        """Resolve pack locator `key` (first matching alternative). When nothing matches, a
        challenge or bounce that explains it is raised instead of LocatorMissingError."""
        try:
            with playwright_errors(f"looking for {key}"):
                return await self.pack.resolve(root or self.page, key, timeout_ms=timeout_ms, **params)
        except LocatorMissingError:
            await self.check_blockers()
            raise

    async def has(self, key: str, *, root: Root | None = None, **params: Param) -> bool:
        """Does `key` match now (no waiting)?"""
        with playwright_errors(f"looking for {key}"):
            return await self.pack.present(root or self.page, key, **params)

    async def text_of(self, key: str, *, root: Root | None = None) -> str:
        """Visible text of the first element `key` resolves to."""
        found = await self.find(key, root=root)
        with playwright_errors(f"reading {key}"):
            return (await found.first.inner_text()).strip()

    # ---- navigation and clicks -------------------------------------------------------------
    async def goto(self, url: str, step: str, *, login_ok: bool = False) -> int:
        """Load `url` (a GET, retried up to `navigation_retries` times on 5xx/timeouts), then
        settle; returns the HTTP status of the page. Raises PortalUnavailableError when every
        try failed."""
        attempts = self.env.settings.navigation_retries + 1
        status = 0
        for attempt in range(attempts):
            try:
                with playwright_errors(f"loading {step}"):
                    response = await self.page.goto(url, wait_until="domcontentloaded",
                                                    timeout=self.env.navigation_ms)
                status = raise_for_status(response, f"loading {step}").status
                break
            except PortalUnavailableError:
                await self._blockers_after_failure(login_ok)
                if attempt + 1 == attempts:
                    raise
        await self.settle(step, login_ok=login_ok)
        return status

    async def click(self, target: Locator, step: str, *, login_ok: bool = False, snap: bool = True,
                    retry_get: bool = False) -> None:
        """Wait for overlays to go, click `target`, then settle (challenge, bounce, 5xx checks).

        With `retry_get`, a click that led to a failed GET page load (5xx) is followed by
        reloading that URL (never for a POST: a submit is never repeated here)."""
        await self.wait_overlays()
        with playwright_errors(f"clicking {step}"):
            await target.first.click(timeout=self.env.action_ms)
        try:
            await self.settle(step, login_ok=login_ok, snap=snap)
        except PortalUnavailableError:
            if not (retry_get and self._nav.method == "GET" and self._nav.url):
                raise
            await self.goto(self._nav.url, step, login_ok=login_ok)

    async def settle(self, step: str, *, login_ok: bool = False, snap: bool = True) -> None:
        """The checks after a navigation or click (see the module docstring)."""
        with playwright_errors(f"waiting for {step} to load"):
            await self.page.wait_for_load_state("domcontentloaded", timeout=self.env.navigation_ms)
        with playwright_errors(f"looking for blockers after {step}"):
            shown = await self.pack.any_present(self.page, _BLOCKER_KEYS)
        if shown or self.pack.is_challenge_url(self.page.url):
            await self.check_blockers(login_ok=login_ok)
        else:  # no blocker element (the usual case, one round trip): only the bounce check
            self._check_bounce(login_ok)
        status = self._nav.status
        if status is not None and status >= 500 and self._nav.url == self.page.url:
            raise PortalUnavailableError(f"portal answered HTTP {status} after {step}",
                                         status=status, url=self.page.url.split("?", 1)[0])
        if shown:
            await self.accept_cookies()
            await self.close_chat_robot()
            await self.wait_overlays()
        if snap:
            await self.snap(step)

    async def shows_challenge(self) -> bool:
        """Is a slider challenge showing now (the punish URL, or the in-page dialog)?"""
        return self.pack.is_challenge_url(self.page.url) or await self.has("challenge")

    async def check_blockers(self, *, login_ok: bool = False) -> None:
        """Raise ChallengeRequiredError (with a screenshot) or SessionExpiredError if the page
        shows a slider challenge or is the login page (unless `login_ok`)."""
        url = self.page.url
        if await self.shows_challenge():
            shot = await self._challenge_screenshot()
            raise ChallengeRequiredError(
                "the portal shows a slider challenge; a person must solve it",
                url=url.split("?", 1)[0], screenshot=str(shot))
        self._check_bounce(login_ok)

    def _check_bounce(self, login_ok: bool) -> None:
        """SessionExpiredError when the page is the login page (unless `login_ok`); no page read."""
        url = self.page.url
        if not login_ok and self.pack.is_bounce(url):
            raise SessionExpiredError("the portal sent the browser to its login page",
                                      url=url.split("?", 1)[0])

    async def unless_navigated(self, waiting: Awaitable[object], timeout_ms: float) -> bool:
        """Await `waiting`, but stop early when the page navigates away meanwhile (e.g. a script
        sends the browser to the login page); then the usual checks run. True: `waiting`
        finished; False: the page navigated (and no challenge or bounce explains it)."""
        page = self.page
        nav = asyncio.ensure_future(page.wait_for_event(
            "framenavigated", predicate=lambda frame: frame == page.main_frame, timeout=timeout_ms))
        work = asyncio.ensure_future(waiting)
        try:
            done, _ = await asyncio.wait({nav, work}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (nav, work):
                if not task.done():
                    task.cancel()
            for task in (nav, work):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if work in done:
            work.result()
            return True
        with playwright_errors("loading the page the portal moved to"):
            await page.wait_for_load_state("domcontentloaded", timeout=self.env.navigation_ms)
        await self.check_blockers()
        return False

    async def _blockers_after_failure(self, login_ok: bool) -> None:
        try:
            await self.check_blockers(login_ok=login_ok)
        except (ChallengeRequiredError, SessionExpiredError):
            raise
        except PortalUnavailableError:
            return

    # ---- overlays --------------------------------------------------------------------------
    async def accept_cookies(self) -> None:
        """Click the cookie banner's accept button when it is shown; wait until it is gone."""
        if not await self.has("cookie_accept"):
            return
        button = self.pack.locator(self.page, "cookie_accept").first
        with playwright_errors("accepting cookies"):
            try:
                await button.click(timeout=self.env.action_ms)
                await button.wait_for(state="hidden", timeout=self.env.action_ms)
            except PlaywrightTimeoutError:
                if await self.has("cookie_accept"):
                    raise

    async def close_chat_robot(self) -> None:
        """Close the chat robot dialog when it covers the page (it intercepts clicks)."""
        if await self.has("chat_robot_close"):
            with playwright_errors("closing the chat robot"):
                await self.pack.locator(self.page, "chat_robot_close").first.click(timeout=self.env.action_ms)

    async def wait_overlays(self) -> None:
        """Wait (up to the action timeout) until no loading overlay covers the page."""
        overlay = self.pack.locator(self.page, "loading_overlay").first
        with playwright_errors("waiting for the loading overlay to go"):
            await overlay.wait_for(state="hidden", timeout=self.env.action_ms)

    # ---- evidence --------------------------------------------------------------------------
    def mask(self) -> list[Locator]:
        """Locators blacked out in screenshots (password and code fields)."""
        return [self.pack.locator(self.page, "mask")]

    async def snap(self, step: str) -> None:
        """Full-page screenshot into the case's evidence (URL and time go into the manifest)."""
        if self.env.evidence is not None:
            await self.env.evidence.screenshot(self.page, step, mask=self.mask())

    async def capture_html(self, step: str) -> None:
        """The page's HTML into the evidence (password/code values removed by the recorder)."""
        if self.env.evidence is not None:
            await self.env.evidence.html(self.page, step, redact=self.mask())

    async def capture_failure(self, step: str = "failure") -> None:
        """Screenshot and HTML of the page as it is when a flow failed, into the case's evidence
        (masked and redacted like every capture); costs nothing while flows succeed. Never
        raises: a closed page, a capture that fails or takes longer than the action timeout is
        only logged (the flow's own error matters more)."""
        if self.env.evidence is None or self.page.is_closed():
            return
        try:
            async with asyncio.timeout(self.env.action_ms / 1000):
                await self.snap(step)
                await self.capture_html(step)
        except (RecoupError, OSError, TimeoutError) as exc:
            logger.warning("the failed page was not captured: {}", exc)

    async def _challenge_screenshot(self) -> Path:
        if self.env.evidence is not None:
            item = await self.env.evidence.screenshot(self.page, "challenge", mask=self.mask())
            return self.env.evidence.case_dir / item.path
        folder = self.env.challenge_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"challenge-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.png"
        with playwright_errors("taking the challenge screenshot"):
            await self.page.screenshot(path=str(path), full_page=True, mask=self.mask())
        return path
