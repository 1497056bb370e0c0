"""Run a flow inside a signed-in session, logging in again when the portal drops the session.

The session budget is separate from the attempt budget (see bot.errors.SessionError): a bounce
to the login page mid-flow costs one re-login, then the flow runs again from its start, which
re-reads the order before any submit, so nothing is ever sent twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from loguru import logger
from playwright.async_api import Page

from bot.errors import SessionExpiredError
from flows.env import FlowEnv
from flows.login import ACCOUNT, CodeSource, Credentials, log_in, log_in_with_password

T = TypeVar("T")


async def with_session(page: Page, env: FlowEnv, creds: Credentials, body: Callable[[], Awaitable[T]], *,
                       code_source: CodeSource | None = None, locale: str | None = ACCOUNT,
                       relogins: int = 2, signed_in: bool = False) -> T:
    """Log in (stored session first), run `body`; on SessionExpiredError log in with the
    password and run `body` again, at most `relogins` times, then re-raise.

    `signed_in`: the page is known to be signed in already (a warm context whose last session
    ended signed in): the sign-in check (a My Orders load) is skipped and `body` runs at once;
    if the portal dropped the session meanwhile, `body`'s first page sees the bounce and the
    re-login above applies (the body re-reads the order before any submit)."""
    if not signed_in:
        await log_in(page, env, creds, code_source=code_source, locale=locale)
    left = relogins
    while True:
        try:
            return await body()
        except SessionExpiredError:
            if left <= 0:
                raise
            left -= 1
            logger.info("{}: session dropped mid-flow; signing in again", creds.email)
            await log_in_with_password(page, env, creds, code_source=code_source)
