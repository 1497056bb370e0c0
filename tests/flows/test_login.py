"""The login flow on real Chromium against the sandbox: stored session, password (both login
variants), emailed code over IMAP, TOTP, slider challenge, wrong password and lockout."""

from __future__ import annotations

from pathlib import Path

import pytest
from loguru import logger
from playwright.async_api import Page

from bot.browser import BrowserManager
from bot.errors import ChallengeRequiredError, LoginRejectedError
from flows.login import Credentials, LoginMethod, log_in
from tests.flows.conftest import ONLY_A, ONLY_B, Portal


async def test_password_then_session_reuse(portal: Portal, tab: Page) -> None:
    env = portal.env()
    creds = portal.creds("ann@buyer.test")
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG")
    try:
        assert await log_in(tab, env, creds) is LoginMethod.PASSWORD
        assert await log_in(tab, env, creds) is LoginMethod.SESSION
    finally:
        logger.remove(sink)
    assert tab.url.startswith(portal.sb.url + "/p/order/index.html")
    assert await tab.locator("html").get_attribute("lang") == "en"
    assert lines and not any(creds.password in line for line in lines)
    cookies = {c["name"]: c["value"] for c in await tab.context.cookies()}
    assert "b_locale=en_US" in cookies["aep_usuc_f"]


async def test_stored_session_and_expiry(portal_a: Portal) -> None:
    env = portal_a.env()
    creds = portal_a.creds("ann@buyer.test")
    manager = BrowserManager(env.settings)
    try:
        async with manager.session(creds.email) as context:
            assert await log_in(await context.new_page(), env, creds) is LoginMethod.PASSWORD
        assert manager.session_path(creds.email).stat().st_mode & 0o777 == 0o600
        async with manager.session(creds.email) as context:
            assert await log_in(await context.new_page(), env, creds) is LoginMethod.SESSION
        portal_a.sb.admin.expire_session(creds.email)  # server-side expiry, cookies still present
        async with manager.session(creds.email) as context:
            assert await log_in(await context.new_page(), env, creds) is LoginMethod.PASSWORD
    finally:
        await manager.close()


async def test_emailed_code(portal: Portal, tab: Page, tmp_path: Path) -> None:
    env = portal.env(tmp_path / "case")
    creds = portal.creds("cody@buyer.test")

    def codes_sent() -> list[dict[str, str]]:
        return [m for m in portal.sb.admin.mail_log() if m["to"] == creds.email and m["kind"] == "login_code"]

    earlier = len(codes_sent())  # the session's sandbox may have mailed Cody codes before
    method = await log_in(tab, env, creds, code_source=portal.code_source())
    assert method is LoginMethod.EMAIL_CODE
    assert tab.url.startswith(portal.sb.url + "/p/order/index.html")
    sent = codes_sent()[earlier:]
    assert len(sent) == 1
    code = sent[0]["text"].split()[-1] if sent[0]["text"] else ""
    # no evidence file carries the code or the password
    await env.flush_evidence()
    for f in (tmp_path / "case").iterdir():
        data = f.read_bytes()
        assert creds.password.encode() not in data
        if code.isdigit():  # (6 digits may occur by chance in an image's bytes)
            assert code.encode() not in data or f.suffix in (".png", ".jpg")


async def test_code_for_new_device_only(portal_a: Portal, fresh_context: object) -> None:
    env = portal_a.env()
    creds = portal_a.creds("gus@buyer.test")
    ctx = await fresh_context()  # type: ignore[operator]
    page = await ctx.new_page()
    assert await log_in(page, env, creds, code_source=portal_a.code_source()) is LoginMethod.EMAIL_CODE
    portal_a.sb.admin.expire_session(creds.email)
    # same browser (known device cookie): the password is enough now
    assert await log_in(page, env, creds, code_source=portal_a.code_source()) is LoginMethod.PASSWORD


@ONLY_B
async def test_totp(portal: Portal, tab: Page) -> None:
    assert await log_in(tab, portal.env(), portal.creds("dora@buyer.test")) is LoginMethod.TOTP


async def test_code_asked_but_no_mailbox(portal_a: Portal, tab: Page) -> None:
    creds = Credentials(email="cody@buyer.test", password=portal_a.creds("cody@buyer.test").password)
    with pytest.raises(LoginRejectedError) as info:
        await log_in(tab, portal_a.env(), creds)
    assert info.value.context["reason"] == "no_mailbox"


@pytest.mark.parametrize(("portal", "email", "form"),
                         [("a", "erik@buyer.test", "dialog"), ("b", "fay@buyer.test", "page")],
                         indirect=["portal"])
async def test_challenge_needs_a_human(portal: Portal, tab: Page, email: str, form: str) -> None:
    env = portal.env()
    with pytest.raises(ChallengeRequiredError) as info:
        await log_in(tab, env, portal.creds(email))
    data = _read(Path(str(info.value.context["screenshot"])))
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"
    if form == "page":
        assert "/_____tmd_____/punish" in tab.url
    state = portal.sb.admin.state()
    assert next(a for a in state["accounts"] if a["email"] == email)["challenge_pending"]
    portal.sb.admin.clear_challenge(email)  # a person solved it
    assert await log_in(tab, env, portal.creds(email)) in (LoginMethod.SESSION, LoginMethod.PASSWORD)


@ONLY_A
async def test_wrong_password_then_lockout(portal: Portal, tab: Page) -> None:
    env = portal.env()
    good = portal.creds("ann@buyer.test")
    bad = Credentials(email=good.email, password="not-the-password")
    with pytest.raises(LoginRejectedError) as info:
        await log_in(tab, env, bad)
    assert info.value.context["reason"] == "wrong_password"
    assert bad.password not in str(info.value)
    for _ in range(4):
        with pytest.raises(LoginRejectedError):
            await log_in(tab, env, bad)
    with pytest.raises(LoginRejectedError) as info:
        await log_in(tab, env, good)  # locked: even the right password is refused
    assert info.value.context["reason"] == "locked"


def _read(path: Path) -> bytes:
    return path.read_bytes()
