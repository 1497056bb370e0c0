"""Opening a signed-in portal session for an account: the one place that does it.

Every piece of work that drives an account's browser (running a case, a status check, counting
orders, the amount check at intake, `accounts login`, `selectors check --account`) goes
through :meth:`SessionOpener.open`:

1. the account's secret references are resolved at the moment of use (a missing one raises
   SecretMissingError, a ConfigError, before any browser opens);
2. the flow environment comes from the pack of the ACCOUNT's portal (PackError for a bad pack);
3. a browser context is opened with the account's stored session, and every resolved secret
   is registered so that traces and logs are scrubbed of it;
4. :meth:`PortalSession.run` signs in (stored session first) and runs a body, signing in again
   when the portal drops the session mid-flow (:func:`flows.session.with_session`).

The context (and its stored session) is closed on the way out, whatever happened — unless the
browser keeps contexts warm (the scheduler service): then a cleanly ended session's context and
page stay open for the account's next session, which skips the sign-in check of step 4. When the
body raises and the session keeps evidence, the page is captured first (screenshot + HTML, step
"failure", see :meth:`flows.pages.base.PortalPage.capture_failure`): the cheap failure
diagnostics every failed case gets, whether or not a trace was recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from playwright.async_api import Page

from bot.browser import BrowserManager
from bot.config import Settings
from bot.evidence import EvidenceRecorder
from bot.models import Account
from bot.secrets import resolve_secret
from flows.env import FlowEnv
from flows.login import CodeSource, Credentials
from flows.pages.base import PortalPage
from flows.registry import PackRegistry
from flows.session import with_session

T = TypeVar("T")


@dataclass(frozen=True)
class PortalSession:
    """An open browser page for one account, with its pack's environment and credentials."""

    account: Account
    page: Page
    env: FlowEnv
    creds: Credentials
    code_source: CodeSource | None
    warm: bool = False
    """The page is a warm context's (:meth:`bot.browser.BrowserManager.is_warm`): signed in
    when its last session ended."""

    async def run(self, body: Callable[[], Awaitable[T]]) -> T:
        """Sign in (stored session first; skipped on a warm page, whose body sees a bounce
        instead) and run `body`; a session the portal drops mid-flow costs a re-login and
        `body` runs again from its start. Raises the login flow's typed errors (challenge,
        rejected login, portal unavailable) and whatever `body` raises."""
        return await with_session(
            self.page, self.env, self.creds, body, code_source=self.code_source, signed_in=self.warm
        )


def secrets_of(creds: Credentials) -> list[str]:
    """The resolved secrets of an account, scrubbed from its traces and HTML captures."""
    return [s for s in (creds.password, creds.totp_secret, creds.mailbox_password) if s]


class SessionOpener:
    """Opens :class:`PortalSession` objects with injected parts (settings, browser, packs,
    code source)."""

    def __init__(
        self, settings: Settings, browser: BrowserManager, packs: PackRegistry, code_source: CodeSource | None
    ) -> None:
        self.settings = settings
        self.browser = browser
        self.packs = packs
        self.code_source = code_source

    def credentials(self, account: Account) -> Credentials:
        """Resolve the account's secret references at the moment of use (never stored).
        Raises SecretMissingError (a ConfigError) naming the first reference that resolves to
        nothing."""
        secrets_file, strict = self.settings.secrets_file, self.settings.strict_secrets

        def secret(ref: str | None) -> str | None:
            return resolve_secret(ref, secrets_file=secrets_file, strict=strict) if ref else None

        password = secret(account.password_ref)
        assert password is not None
        return Credentials(
            email=account.email,
            password=password,
            totp_secret=secret(account.totp_ref),
            mailbox_user=account.mailbox_user or (account.email if account.mailbox_password_ref else None),
            mailbox_password=secret(account.mailbox_password_ref),
            locale=account.locale,
        )

    def env(self, account: Account, evidence: EvidenceRecorder | None = None) -> FlowEnv:
        """The flow environment of the account's portal: screenshots into `evidence` (a case's
        recorder), else challenge screenshots into `<data_dir>/screenshots`."""
        if evidence is not None:
            return self.packs.env(account.portal, evidence=evidence)
        return self.packs.env(account.portal, shots_dir=self.settings.data_dir / "screenshots")

    @asynccontextmanager
    async def open(
        self, account: Account, *, evidence: EvidenceRecorder | None = None, trace_dir: Path | None = None
    ) -> AsyncIterator[PortalSession]:
        """A page in a fresh context with the account's stored session (see the module
        docstring). `trace_dir`: record a Playwright trace, kept there (scrubbed) only when the
        session fails; None records none (the engine's policy: `settings.trace_sessions`).
        With `evidence`, the account's secrets are redacted from its HTML captures and a failed
        session leaves a screenshot and the HTML of its page as it was (step "failure"), traced
        or not. Raises SecretMissingError / PackError before the browser opens, BrowserError
        when Chromium cannot start."""
        env = self.env(account, evidence)
        creds = self.credentials(account)
        secrets = secrets_of(creds)
        if evidence is not None:
            evidence.redact_values(secrets)
        async with self.browser.session(account.name, trace_dir=trace_dir, secrets=secrets) as context:
            warm = self.browser.is_warm(context) and bool(context.pages)
            page = context.pages[0] if warm else await context.new_page()
            try:
                yield PortalSession(account, page, env, creds, self.code_source, warm=warm)
            except Exception:
                await env.page_object(PortalPage, page).capture_failure()
                raise
