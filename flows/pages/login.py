"""Login page objects: the email/password form (both variants) and the verification-code step.

Variants (told apart by what the page shows, not by configuration):
- form: email and password visible together, one submit;
- header dialog: email first, the password is revealed after "Continue" (or Enter).

Secrets are typed only into a field that :func:`conceal` has made draw no text (no glyph, no
caret), so no screenshot, trace screencast frame or person watching a headed browser sees the
password or a code; the trace scrubber (:mod:`bot.tracescrub`) also drops frames recorded while
such a field holds a value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from playwright.async_api import Locator
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bot.errors import LoginRejectedError
from bot.errors_playwright import playwright_errors
from flows.pages.base import PortalPage


class AfterSubmit(StrEnum):
    """Where the browser is after a login form was submitted."""

    SIGNED_IN = "signed_in"
    NEEDS_CODE = "needs_code"


class LoginPage(PortalPage):
    """The portal's sign-in page (`pages.login` of the pack)."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "login_continue", "login_email", "login_error", "login_password", "login_submit",
        "verify_code_input"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def submit_password(self, email: str, password: str) -> datetime:
        """Fill email and password (revealing the password field in the email-first variant)
        and submit. Returns the moment just before the submit (the earliest time a mailed code
        for this login can carry). The password is never logged or put into an error."""
        email_box = await self.find("login_email")
        with playwright_errors("typing the email"):
            await email_box.first.fill(email)
        if not await self.has("login_password"):
            if await self.has("login_continue"):
                await self.click(self.pack.locator(self.page, "login_continue"), "login-continue",
                                 login_ok=True, snap=False)
            else:
                with playwright_errors("pressing Enter after the email"):
                    await email_box.first.press("Enter")
        password_box = await self.find("login_password")
        await conceal(password_box, "the password field")
        with playwright_errors("typing the password"):
            await password_box.first.fill(password)
        submit = await self.find("login_submit")
        await self.snap("login-filled")
        since = datetime.now(UTC).replace(microsecond=0)
        await self.click(submit, "login-submitted", login_ok=True)
        return since

    async def outcome(self) -> AfterSubmit:
        """Signed in, or a code is asked for. Raises LoginRejectedError (wrong password,
        lockout, or no answer) when the portal stays on the login page."""
        if not self.pack.is_bounce(self.page.url):
            return AfterSubmit.SIGNED_IN
        answer = self.pack.locator(self.page, "verify_code_input").or_(
            self.pack.locator(self.page, "login_error"))
        with playwright_errors("waiting for the login answer"):
            try:
                await answer.first.wait_for(state="visible", timeout=self.env.action_ms)
            except PlaywrightTimeoutError:
                if not self.pack.is_bounce(self.page.url):
                    return AfterSubmit.SIGNED_IN
                raise LoginRejectedError("the portal did not answer the login", url=self.page.url) from None
        if await self.has("verify_code_input"):
            return AfterSubmit.NEEDS_CODE
        raise await rejection(self, "login_error")


class VerifyPage(PortalPage):
    """The verification step after a right password: an emailed code or an authenticator code."""

    REQUIRED_KEYS: ClassVar[frozenset[str]] = frozenset({
        "verify_code_input", "verify_error", "verify_submit", "verify_totp_hint"
    })
    """Locator keys this page object uses (checked when a pack loads)."""

    async def wants_authenticator(self) -> bool:
        """True when the page asks for the authenticator-app code rather than a mailed one."""
        return await self.has("verify_totp_hint")

    async def submit_code(self, code: str) -> None:
        """Type the code and submit; raises LoginRejectedError when the portal refuses it."""
        box = await self.find("verify_code_input")
        await conceal(box, "the code field")
        with playwright_errors("typing the verification code"):
            await box.first.fill(code)
        submit = await self.find("verify_submit")
        await self.click(submit, "verify-submitted", login_ok=True)
        if not self.pack.is_bounce(self.page.url):
            return
        raise await rejection(self, "verify_error")


_CONCEAL_JS = """el => {
    for (const [name, value] of [["color", "transparent"], ["-webkit-text-fill-color", "transparent"],
                                 ["caret-color", "transparent"], ["text-shadow", "none"]]) {
        el.style.setProperty(name, value, "important");
    }
    const style = getComputedStyle(el);
    return [style.color, style.webkitTextFillColor, style.caretColor].every(
        c => c === "transparent" || /rgba\\(.*,\\s*0\\)$/.test(c));
}"""


async def conceal(box: Locator, what: str) -> None:
    """Make the field `box` resolves to draw none of its text (inline `!important` styles:
    transparent text and caret), before a secret is typed into it. Raises LoginRejectedError
    (reason `unmaskable`) when the page keeps the text visible, so a secret is never typed
    into a field a screencast could read; PortalUnavailableError when the page is gone."""
    with playwright_errors(f"masking {what}"):
        masked = await box.first.evaluate(_CONCEAL_JS)
    if not masked:
        raise LoginRejectedError(f"{what} cannot be masked; not typing a secret into it",
                                 reason="unmaskable")


async def rejection(page: PortalPage, key: str) -> LoginRejectedError:
    """A LoginRejectedError classified from the error line `key` (wrong password, lockout,
    wrong code); its `reason` context is one of those or `unknown`."""
    text = ""
    if await page.has(key):
        text = await page.text_of(key)
    errors = page.pack.model.login_errors
    reason = "unknown"
    for name, texts in (("locked", errors.locked), ("wrong_password", errors.wrong_password),
                        ("wrong_code", errors.wrong_code)):
        if page.pack.matches_any(text, texts):
            reason = name
            break
    return LoginRejectedError(f"the portal refused the login ({reason}): {text or 'no message'}",
                              reason=reason, url=page.page.url.split("?", 1)[0])
