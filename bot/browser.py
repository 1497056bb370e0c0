"""The browser session manager: one Chromium per process, one context per account session.

Promises:
- one Chromium (Debian's, `settings.browser_path`, flags :data:`bot.config.CHROMIUM_ARGS`),
  launched lazily or by :meth:`BrowserManager.start`, relaunched if it crashed;
- at most one open session (BrowserContext) per account at a time, while different accounts run
  concurrently;
- with `warm_seconds` > 0 (the scheduler service), a context whose session ended cleanly is kept
  open ("warm", its storage state saved as usual) for the account's next session (at most
  `settings.max_concurrency` of them, the longest parked goes first), and closed after
  `warm_seconds` without use, at :meth:`BrowserManager.close`, after any session that
  raised, or when Chromium was relaunched; :meth:`BrowserManager.is_warm` tells a session that
  its context is such a reused one (it was signed in when its last session ended);
- the account's storage state (cookies, local storage) is loaded from
  `settings.sessions_dir/<safe key>.json` and saved back atomically with mode 0600;
- with a `trace_dir`, a Playwright trace is recorded and kept only when the session body raises
  (secrets scrubbed, see :mod:`bot.tracescrub`); without one nothing is recorded. Recording
  (screencast frames and DOM snapshots) about halves the service's throughput, so callers ask
  for it only when it is likely to be needed: the engine traces a case's retries only
  (`settings.trace_sessions`, :meth:`bot.engine.Engine.traced`), and every failed case session
  leaves a screenshot and HTML of its last page anyway (:mod:`bot.sessions`).

Playwright errors raised by the manager itself are converted to :mod:`bot.errors` types; flows use
:func:`bot.errors_playwright.playwright_errors` (the same conversion) around their own page actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from loguru import logger
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from bot.atomic import atomic_write_bytes
from bot.config import CHROMIUM_ARGS, Settings
from bot.errors import ConfigError, PortalUnavailableError, RecoupError, SessionError
from bot.errors_playwright import first_line, playwright_errors
from bot.tracescrub import scrub_trace

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


async def start_tracing(context: BrowserContext) -> None:
    """Start tracing `context` the way every session is traced: screencast frames and DOM
    snapshots (both scrubbed before a trace is kept, see :mod:`bot.tracescrub`), no sources.
    Raises Playwright's Error when the context is gone."""
    await context.tracing.start(screenshots=True, snapshots=True, sources=False)


def session_file_name(account_key: str) -> str:
    """File name of an account's stored session: readable slug plus a hash (no collisions,
    no path separators, never hidden)."""
    slug = _UNSAFE.sub("_", account_key).strip("._-")[:60] or "account"
    digest = hashlib.sha256(account_key.encode("utf-8")).hexdigest()[:12]
    return f"{slug}-{digest}.json"


KEPT_TRACE_PREFIX = "trace-"
"""A failed session's scrubbed trace is `trace_dir/trace-<utc time>.zip`; the evidence recorder
adopts such files into the case manifest (:meth:`bot.evidence.EvidenceRecorder.adopt_traces`)."""


class BrowserManager:
    """One Chromium per process (Debian's, settings.browser_path, headless, CHROMIUM_ARGS);
    one BrowserContext per account; at most one open session per account at a time."""

    def __init__(self, settings: Settings, *, warm_seconds: float = 0.0) -> None:
        self.settings = settings
        self.warm_seconds = warm_seconds
        """How long a cleanly ended session's context stays open for the account's next one."""
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._start_lock = asyncio.Lock()
        self._account_locks: dict[str, asyncio.Lock] = {}
        self._warm: dict[str, tuple[BrowserContext, asyncio.Task[None]]] = {}
        """Parked contexts by account key, each with the task that closes it when idle."""
        self._reused: set[BrowserContext] = set()
        """Contexts of sessions running now that came from the warm pool."""
        self.contexts_opened = 0
        """New contexts opened for account sessions (a warm one reused counts nothing)."""

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Launch Playwright and Chromium (no-op when running).

        Raises ConfigError when the executable is missing, PortalUnavailableError when the
        launch fails otherwise (treated as passing: retried by the engine).
        """
        async with self._start_lock:
            if self._browser is not None and self._browser.is_connected():
                return
            path = self.settings.browser_path
            if not path.is_file():
                raise ConfigError(f"Chromium not found at {path} (setting RECOUP_BROWSER_PATH)")
            if self._browser is not None:
                logger.warning("Chromium disconnected; relaunching")
                with contextlib.suppress(PlaywrightError):
                    await self._browser.close()
                self._browser = None
            try:
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=str(path),
                    headless=self.settings.headless,
                    args=list(CHROMIUM_ARGS),
                )
            except PlaywrightError as exc:
                raise PortalUnavailableError(
                    f"Chromium failed to start: {first_line(exc)}", browser_path=str(path)
                ) from exc
            logger.info("Chromium {} started", self._browser.version)

    async def close(self) -> None:
        """Close the warm contexts and Chromium and stop Playwright. Safe to call twice; errors
        on close are logged."""
        for account_key in list(self._warm):
            await self._close_warm(account_key)
        browser, self._browser = self._browser, None
        pw, self._playwright = self._playwright, None
        if browser is not None:
            try:
                await browser.close()
            except PlaywrightError as exc:
                logger.warning("closing Chromium failed: {}", first_line(exc))
        if pw is not None:
            try:
                await pw.stop()
            except PlaywrightError as exc:
                logger.warning("stopping Playwright failed: {}", first_line(exc))

    async def __aenter__(self) -> BrowserManager:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- sessions --------------------------------------------------------------------------
    def session_path(self, account_key: str) -> Path:
        """Where the account's storage state lives."""
        return self.settings.sessions_dir / session_file_name(account_key)

    def is_warm(self, context: BrowserContext) -> bool:
        """True when `context` is an open session's reused warm context (see the module
        docstring): its previous session ended cleanly, signed in."""
        return context in self._reused

    @property
    def warm_accounts(self) -> set[str]:
        """Keys of accounts whose context is parked warm now."""
        return set(self._warm)

    def is_busy(self, account_key: str) -> bool:
        """True while a session of this account is open (or being opened)."""
        lock = self._account_locks.get(account_key)
        return lock is not None and lock.locked()

    @asynccontextmanager
    async def session(
        self,
        account_key: str,
        *,
        trace_dir: Path | None = None,
        locale_cookie: dict[str, Any] | None = None,
        secrets: Collection[str] = (),
    ) -> AsyncIterator[BrowserContext]:
        """Open the account's browser context; waits while another session of it is open.

        On normal exit the storage state is saved (0600, atomic) and the context closed. When the
        body raises: a trace is saved into `trace_dir` (if given; `secrets` are scrubbed from it
        along with cookies, auth headers and form bodies), the storage state is kept for
        non-session errors and forgotten for :class:`SessionError`, and the error re-raised.
        With `warm_seconds` the context of a cleanly ended session is parked instead of closed
        (and a parked one is reused here); a session that raised always closes its context.
        """
        lock = self._account_locks.setdefault(account_key, asyncio.Lock())
        async with lock:
            await self.start()
            assert self._browser is not None
            context = await self._take_warm(account_key)
            if context is None:
                context = await self._new_context(account_key, locale_cookie)
                self.contexts_opened += 1
            else:
                self._reused.add(context)
                if locale_cookie:
                    with playwright_errors("setting the locale cookie"):
                        await context.add_cookies([locale_cookie])  # type: ignore[list-item]
            tracing = False
            park = False
            try:
                if trace_dir is not None:
                    await start_tracing(context)
                    tracing = True
                try:
                    yield context
                except BaseException as exc:
                    if tracing and trace_dir is not None:
                        tracing = False
                        await self._keep_trace(context, trace_dir, account_key, secrets)
                    if isinstance(exc, SessionError):
                        self.forget_session(account_key)
                    elif isinstance(exc, Exception):
                        await self._save_quietly(context, account_key)
                    raise
                if tracing:
                    tracing = False
                    with contextlib.suppress(PlaywrightError):
                        await context.tracing.stop()
                await self.save_session(context, account_key)
                park = self.warm_seconds > 0
            finally:
                self._reused.discard(context)
                if park and self._browser is not None and context.browser is self._browser:
                    self._park(account_key, context)
                else:
                    with contextlib.suppress(PlaywrightError):
                        await context.close()

    # ---- warm contexts ---------------------------------------------------------------------
    async def _take_warm(self, account_key: str) -> BrowserContext | None:
        """The account's parked context, if it belongs to the running Chromium (else closed)."""
        parked = self._warm.pop(account_key, None)
        if parked is None:
            return None
        context, expiry = parked
        expiry.cancel()
        if context.browser is self._browser and self._browser is not None and self._browser.is_connected():
            return context
        with contextlib.suppress(PlaywrightError):
            await context.close()
        return None

    def _park(self, account_key: str, context: BrowserContext) -> None:
        """Keep `context` warm; at most `settings.max_concurrency` are kept (memory: each holds
        a renderer), the longest parked one is closed to make room."""
        while len(self._warm) >= max(1, self.settings.max_concurrency):
            oldest = next(iter(self._warm))
            old_context, old_expiry = self._warm.pop(oldest)
            old_expiry.cancel()
            asyncio.get_running_loop().create_task(
                self._close_quietly(old_context), name=f"warm context of {oldest}: evicted"
            )
        expiry = asyncio.get_running_loop().create_task(
            self._expire(account_key, context), name=f"warm context of {account_key}: idle close"
        )
        self._warm[account_key] = (context, expiry)

    async def _expire(self, account_key: str, context: BrowserContext) -> None:
        await asyncio.sleep(self.warm_seconds)
        parked = self._warm.get(account_key)
        if parked is not None and parked[0] is context:
            del self._warm[account_key]
            with contextlib.suppress(PlaywrightError):
                await context.close()

    @staticmethod
    async def _close_quietly(context: BrowserContext) -> None:
        with contextlib.suppress(PlaywrightError):
            await context.close()

    async def _close_warm(self, account_key: str) -> None:
        parked = self._warm.pop(account_key, None)
        if parked is None:
            return
        context, expiry = parked
        expiry.cancel()
        with contextlib.suppress(PlaywrightError):
            await context.close()

    @asynccontextmanager
    async def scratch_context(self, **options: Any) -> AsyncIterator[BrowserContext]:
        """A new context that belongs to no account: no stored session is loaded or saved, and
        it is closed afterwards. `options` go to Playwright's `new_context` (e.g.
        `service_workers="block"`). For pages that are not an account's, such as a saved page
        checked offline. Raises like :meth:`start`, PortalUnavailableError if no context opens."""
        await self.start()
        assert self._browser is not None
        with playwright_errors("opening a browser context"):
            context = await self._browser.new_context(locale="en-US", timezone_id="UTC", **options)
            context.set_default_timeout(self.settings.action_timeout_ms)
            context.set_default_navigation_timeout(self.settings.navigation_timeout_ms)
        try:
            yield context
        finally:
            with contextlib.suppress(PlaywrightError):
                await context.close()

    async def _new_context(self, account_key: str, locale_cookie: dict[str, Any] | None) -> BrowserContext:
        assert self._browser is not None
        state = self._load_state(account_key)
        with playwright_errors("opening a browser context"):
            context = await self._browser.new_context(
                storage_state=state,  # type: ignore[arg-type]
                locale="en-US",
                timezone_id="UTC",
            )
            context.set_default_timeout(self.settings.action_timeout_ms)
            context.set_default_navigation_timeout(self.settings.navigation_timeout_ms)
            if locale_cookie:
                await context.add_cookies([locale_cookie])  # type: ignore[list-item]
        return context

    def _load_state(self, account_key: str) -> dict[str, Any] | None:
        """The stored state, or None when absent or unreadable (an unreadable file is removed:
        a session is only a cache, the flow logs in again)."""
        path = self.session_path(account_key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read stored session {path}: {exc.strerror}") from exc
        try:
            state = json.loads(raw)
            if not isinstance(state, dict) or not isinstance(state.get("cookies", []), list):
                raise ValueError("not a storage state")
        except ValueError:
            logger.warning("stored session {} is unreadable; discarding it", path.name)
            self.forget_session(account_key)
            return None
        return state

    async def save_session(self, context: BrowserContext, account_key: str) -> None:
        """Save the context's storage state atomically, created with mode 0600 in a 0700 folder.

        Raises PortalUnavailableError if the browser cannot report its state, ConfigError if the
        sessions folder cannot be written.
        """
        with playwright_errors("reading the session state"):
            state = await context.storage_state()
        folder = self.settings.sessions_dir
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            folder.chmod(0o700)
            atomic_write_bytes(
                self.session_path(account_key),
                json.dumps(state, separators=(",", ":")).encode("utf-8"),
                mode=0o600,
            )
        except OSError as exc:
            raise ConfigError(f"cannot write the session file in {folder}: {exc.strerror}") from exc

    async def _save_quietly(self, context: BrowserContext, account_key: str) -> None:
        try:
            await self.save_session(context, account_key)
        except RecoupError as exc:
            logger.warning("session of {} not saved after a failure: {}", account_key, exc)

    def forget_session(self, account_key: str) -> None:
        """Delete the stored state (after a bounce to login). No error if there is none. A
        parked warm context of the account is closed too (soon, in a task of its own)."""
        if account_key in self._warm:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing can be parked
                asyncio.get_running_loop().create_task(self._close_warm(account_key))
        with contextlib.suppress(FileNotFoundError):
            self.session_path(account_key).unlink()

    async def _keep_trace(
        self, context: BrowserContext, trace_dir: Path, account_key: str, secrets: Collection[str]
    ) -> None:
        """Stop tracing into `trace_dir/trace-<utc time>.zip`, scrubbed. Never raises: the
        original error matters more than the trace."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        try:
            _make_dir(trace_dir)
            raw = trace_dir / f".raw-trace-{stamp}.zip"
            await context.tracing.stop(path=raw)
            try:
                scrub_trace(raw, trace_dir / f"{KEPT_TRACE_PREFIX}{stamp}.zip", secrets=secrets)
            finally:
                raw.unlink(missing_ok=True)
        except (PlaywrightError, OSError, ValueError) as exc:
            logger.warning("trace of {} not saved: {}", account_key, first_line(exc))


def _make_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
