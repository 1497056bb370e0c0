"""Login hurdles in real Chromium: wrong password, lockout, mailed code, TOTP, session bounce, challenge."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.async_api import Page, expect

from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.sandbox.helpers import ORDERS, accept_cookies, body_text, login, wait_for_mail

pytestmark = pytest.mark.e2e


async def test_wrong_password_then_lockout(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    await page.goto(sb.url + "/login/")
    await accept_cookies(page)
    alert = page.locator("div.fm-error[role=alert]")
    for _ in range(4):
        await page.fill("#fm-login-id", "ann@buyer.test")
        await page.fill("#fm-login-password", "wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(alert).to_have_text("Your account name or password is incorrect.")
    await page.fill("#fm-login-password", "wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_have_text("Too many failed attempts. Try again later.")
    # even the right password is refused while locked
    await page.fill("#fm-login-password", "ann-pass-1")
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_have_text("Too many failed attempts. Try again later.")
    sb.admin.advance(sb.settings.lockout_s + 1)
    await page.fill("#fm-login-password", "ann-pass-1")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(sb.url + "/www/")  # no return_url: the locale home (CONTRACT.md)


async def test_mailed_code(page: Page, fresh_sandbox: RunningSandbox, mail_server: MailServer) -> None:
    sb = fresh_sandbox
    await login(page, sb, "cody@buyer.test")
    await expect(page).to_have_url(re.compile(r"/login/verify$"))
    code_box = page.locator("input#fm-verify-code[name=code][autocomplete=one-time-code]")
    await code_box.fill("000000")
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_have_text("The verification code is incorrect.")
    mail = wait_for_mail(mail_server, sb, "cody@buyer.test", r"^Your AliExpress verification code$")
    match = re.search(r"Your verification code is (\d{6})", body_text(mail))
    assert match
    await code_box.fill(match.group(1))
    await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(sb.url + ORDERS)
    await expect(page.locator("div.order-item").first).to_be_visible()


async def test_totp(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    account = sb.scenario.account("dora@buyer.test")
    await login(page, sb, account.email)
    await expect(page.get_by_text("Enter the code from your authenticator app")).to_be_visible()
    assert account.totp_secret
    await page.fill("#fm-verify-code", pyotp.TOTP(account.totp_secret).now())
    await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(sb.url + ORDERS)


async def test_expired_session_bounces_to_login(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    await login(page, sb, "ann@buyer.test")
    detail = f"{sb.url}/p/order/detail.html?orderId=3042417938137300"
    await page.goto(detail)
    sb.admin.expire_session("ann@buyer.test")
    await page.goto(detail)
    await expect(page).to_have_url(re.compile(r"/login/\?return_url="))
    assert await page.locator("#fm-login-id").is_visible()
    # signing in again returns to where the buyer was
    await page.fill("#fm-login-id", "ann@buyer.test")
    await page.fill("#fm-login-password", "ann-pass-1")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(detail)
    # the server-side lifetime runs on the sandbox clock
    sb.admin.advance(sb.settings.session_lifetime_s + 1)
    await page.reload()
    await expect(page).to_have_url(re.compile(r"/login/\?return_url="))


async def test_dialog_challenge_blocks_until_cleared(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    await login(page, sb, "erik@buyer.test")  # rule: challenge on the first order page
    dialog = page.locator("div.baxia-dialog")
    await expect(dialog).to_be_visible()
    assert await dialog.evaluate("e => getComputedStyle(e).position") == "fixed"
    await expect(page.locator("div.order-item")).to_have_count(0)  # no order content served
    frame = page.frame_locator("iframe#baxia-dialog-content")
    handle = frame.locator("#nc_1_n1z")
    track = frame.locator("#nc_1_n1t")
    await expect(handle).to_be_visible()
    box, track_box = await handle.bounding_box(), await track.bounding_box()
    assert box and track_box
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(track_box["x"] + track_box["width"], box["y"] + box["height"] / 2, steps=15)
    await page.mouse.up()
    await expect(frame.locator(".nc-error")).to_be_visible()  # a headless slide never passes
    await page.goto(sb.url + ORDERS)
    await expect(dialog).to_be_visible()
    accounts = {a["email"]: a for a in sb.admin.state()["accounts"]}
    assert accounts["erik@buyer.test"]["challenge_pending"] is True

    sb.admin.clear_challenge("erik@buyer.test")  # a human solved it
    await expect(page.locator("div.order-item").first).to_be_visible(timeout=10_000)  # page resumes itself
    await expect(dialog).to_have_count(0)


async def test_page_challenge_after_login(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    await login(page, sb, "fay@buyer.test")  # rule: full-page challenge at login
    await expect(page).to_have_url(re.compile(r"/_____tmd_____/punish\?x5secdata="))
    await expect(page.locator("#nc_1_n1z")).to_be_visible()
    await page.goto(sb.url + "/p/order/detail.html?orderId=" + sb.scenario.orders("fay@buyer.test")[0].id)
    await expect(page).to_have_url(re.compile(r"/_____tmd_____/punish"))
    sb.admin.clear_challenge("fay@buyer.test")
    await expect(page).to_have_url(re.compile(r"/p/order/detail\.html"), timeout=10_000)
    await expect(page.locator("[data-pl=order_detail_status]")).to_be_visible()
