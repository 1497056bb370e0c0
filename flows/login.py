"""The login flow: reuse the stored session, else email + password, then an emailed code or
an authenticator (TOTP) code when the portal asks for one.

Promises: the page ends signed in on a buyer page in the account's locale (when the pack reads
its language; else the pack's forced one), or a typed error is
raised: ChallengeRequiredError (slider; with a screenshot, never retried blindly),
LoginRejectedError (wrong password, lockout, wrong or missing code), PortalUnavailableError.
Secrets (password, codes, TOTP secret) never reach logs, errors or evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import pyotp
from loguru import logger
from playwright.async_api import BrowserContext, Page

from bot.errors import LoginRejectedError
from bot.errors_playwright import playwright_errors
from flows.env import FlowEnv
from flows.pages.base import PortalPage
from flows.pages.login import AfterSubmit, LoginPage, VerifyPage


@dataclass(frozen=True)
class Credentials:
    """One portal account's secrets (never printed: repr hides them)."""

    email: str
    password: str = field(repr=False)
    totp_secret: str | None = field(default=None, repr=False)
    mailbox_user: str | None = None
    mailbox_password: str | None = field(default=None, repr=False)
    locale: str | None = None
    """The account's portal language (`de_DE`); None: unknown (the pack's forced locale is used)."""


class CodeSource(Protocol):
    """Where emailed verification codes come from (bot.mail.codes.ImapCodeSource)."""

    async def wait_for_code(self, mailbox_user: str, mailbox_password: str, *, since: datetime,
                            timeout_s: float, pattern: str, sender: str | None) -> str:
        """The newest code mailed at or after `since`; LoginRejectedError on timeout."""
        ...


class LoginMethod(StrEnum):
    """How the session was obtained."""

    SESSION = "session"
    PASSWORD = "password"
    EMAIL_CODE = "email_code"
    TOTP = "totp"


FORCE = "force"
"""`locale` value: the pack's forced locale (English), whatever the account's language."""
ACCOUNT = "account"
"""Default of `locale`: the account's own locale (`Credentials.locale`) when the pack reads its
language, else the pack's forced locale (`Pack.page_locale`)."""


async def set_locale(context: BrowserContext, env: FlowEnv, locale: str | None = FORCE) -> None:
    """Set the portal's locale cookie: the pack's forced locale by default, `locale` when given,
    nothing when None (the account's own language applies)."""
    wanted = env.pack.model.locale.force if locale == FORCE else locale
    if wanted:
        with playwright_errors("setting the locale cookie"):
            await context.add_cookies(env.pack.locale_cookies(wanted))  # type: ignore[arg-type]


async def log_in(page: Page, env: FlowEnv, creds: Credentials, *, code_source: CodeSource | None = None,
                 locale: str | None = ACCOUNT) -> LoginMethod:
    """Make sure `page` is signed in as `creds` and shows My Orders.

    First the stored session is tried (open My Orders; no bounce = signed in). On a bounce the
    login form is filled (both variants), then a verification code is supplied when asked:
    the current TOTP when the page asks for the authenticator app and the account has a secret,
    else the newest code mailed after the password was submitted, read over IMAP.
    The page language is set first: `locale` ACCOUNT (default) drives the account in its own
    language when the pack reads it, FORCE in the pack's forced one, a locale name in that one,
    None leaves the portal's choice.
    """
    await set_locale(page.context, env, env.pack.page_locale(creds.locale) if locale == ACCOUNT else locale)
    portal = PortalPage(page, env)
    await portal.goto(env.pack.url("orders"), "open-orders", login_ok=True)
    if not env.pack.is_bounce(page.url):
        logger.info("{}: stored session still valid", creds.email)
        return LoginMethod.SESSION
    return await log_in_with_password(page, env, creds, code_source=code_source)


async def log_in_with_password(page: Page, env: FlowEnv, creds: Credentials, *,
                               code_source: CodeSource | None = None) -> LoginMethod:
    """Fill the login form on the current page (opening it when the page is not a login page)."""
    login = env.page_object(LoginPage, page)
    if not env.pack.is_bounce(page.url):
        await login.goto(env.pack.url("login"), "open-login", login_ok=True)
    since = await login.submit_password(creds.email, creds.password)
    if await login.outcome() is AfterSubmit.SIGNED_IN:
        await _landed(login)
        return LoginMethod.PASSWORD
    verify = env.page_object(VerifyPage, page)
    if await verify.wants_authenticator() or (creds.totp_secret and not creds.mailbox_user):
        if not creds.totp_secret:
            raise LoginRejectedError("the portal asks for an authenticator code but the account has no "
                                     "TOTP secret", reason="no_totp_secret")
        await verify.submit_code(pyotp.TOTP(creds.totp_secret).now())
        method = LoginMethod.TOTP
    else:
        if code_source is None or not creds.mailbox_user or creds.mailbox_password is None:
            raise LoginRejectedError("the portal mailed a verification code but no mailbox is configured "
                                     "for the account", reason="no_mailbox")
        rule = env.pack.model.email
        code = await code_source.wait_for_code(
            creds.mailbox_user, creds.mailbox_password, since=since,
            timeout_s=env.settings.login_code_timeout_s, pattern=rule.login_code.code, sender=rule.sender)
        await verify.submit_code(code)
        method = LoginMethod.EMAIL_CODE
    await _landed(verify)
    logger.info("{}: signed in ({})", creds.email, method.value)
    return method


async def _landed(page: PortalPage) -> None:
    """After a successful login: make sure the landing page passed the usual checks."""
    await page.check_blockers()
