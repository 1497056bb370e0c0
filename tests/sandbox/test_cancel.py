"""Cancellation through the real dialog: counted submissions, seller decisions, step mails in Dovecot."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.sandbox.helpers import body_text, login, wait_for_mail

pytestmark = pytest.mark.e2e

ANN = "ann@buyer.test"
BERND = "bernd@kaeufer.test"


async def _request_cancel(
    page: Page, sb: RunningSandbox, order_id: str, button: str, submit: str, confirm: str, reason: str
) -> None:
    await page.goto(f"{sb.url}/p/order/detail.html?orderId={order_id}")
    await page.get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=submit).click()  # no reason picked: refused on the page
    await expect(dialog.get_by_role("alert")).to_be_visible()
    await dialog.get_by_label(reason).check()
    await dialog.get_by_role("textbox").fill("Ordered twice by mistake")
    await dialog.get_by_role("button", name=submit).click()
    sure = page.get_by_role("alertdialog")
    await expect(sure).to_be_visible()
    await sure.get_by_role("button", name=confirm).click()
    await page.wait_for_url(f"**/detail.html?orderId={order_id}")


async def test_request_cancel_counts_second_submission(
    page: Page, fresh_sandbox: RunningSandbox, mail_server: MailServer
) -> None:
    sb = fresh_sandbox
    order_id = "3042417938137200"  # awaiting shipment, seller approves after 1 h
    await login(page, sb, ANN)
    await _request_cancel(
        page, sb, order_id, "Request order cancellation", "Submit", "Confirm", "I placed a duplicate order"
    )
    await expect(page.locator("[data-pl=order_detail_status]")).to_have_text("Cancellation requested")
    await expect(page.get_by_role("button", name="Request order cancellation")).to_have_count(0)
    assert sb.admin.submissions(order_id)["count"] == 1

    # the same POST again (a bot retrying blindly): refused as a duplicate, but counted
    resp = await page.request.post(
        f"{sb.url}/p/order/api/cancel?orderId={order_id}", form={"reason": "duplicate", "comment": ""}
    )
    assert resp.status == 409
    assert "A cancellation request has already been submitted" in await resp.text()
    subs = sb.admin.submissions(order_id)
    assert (subs["count"], subs["accepted"], subs["duplicates"]) == (2, 1, 1)
    order = sb.admin.order(order_id)
    assert order["status"] == "cancel_requested"
    assert order["cancel"]["reason"] == "duplicate"

    mail = wait_for_mail(mail_server, sb, ANN, rf"^Order {order_id}: Cancellation requested$")
    assert mail["From"] == "AliExpress <transaction@notice.aliexpress.com>"
    assert f"tradeOrderId={order_id}" in body_text(mail)

    sb.admin.advance(3600)
    assert sb.admin.order(order_id)["status"] == "canceled"
    wait_for_mail(mail_server, sb, ANN, rf"^Order {order_id}: Cancellation approved$")
    wait_for_mail(mail_server, sb, ANN, rf"^Your order {order_id} is closed$")
    await page.reload()
    await expect(page.locator("[data-pl=order_detail_status]")).to_have_text("Canceled")


async def test_immediate_cancel_and_seller_answers(page: Page, fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    await login(page, sb, ANN)
    await _request_cancel(
        page, sb, "3042417938137135", "Cancel order", "Submit", "Confirm", "I ordered the wrong product(s)"
    )
    await expect(page.locator("[data-pl=order_detail_status]")).to_have_text("Canceled")

    await _request_cancel(
        page,
        sb,
        "3042417938137201",
        "Request order cancellation",
        "Submit",
        "Confirm",
        "I am not able to contact the supplier",
    )
    await _request_cancel(
        page,
        sb,
        "3042417938137202",
        "Request order cancellation",
        "Submit",
        "Confirm",
        "Other reason(s) caused by the supplier",
    )
    sb.admin.advance(3600)  # the rejecting seller answers; the silent one does not
    assert sb.admin.order("3042417938137201")["status"] == "awaiting_shipment"
    assert sb.admin.order("3042417938137202")["status"] == "cancel_requested"
    await page.goto(f"{sb.url}/p/order/detail.html?orderId=3042417938137201")
    await expect(page.locator("[data-pl=order_detail_status]")).to_have_text("Awaiting shipment")
    refused = "The seller rejected your cancellation request."
    await expect(page.locator(".order-status-desc")).to_have_text(refused)
    sb.admin.advance(47 * 3600)  # 48 h after the request: approved automatically
    assert sb.admin.order("3042417938137202")["status"] == "canceled"
    assert sb.admin.order("3042417938137202")["cancel"]["result"] == "approved"


async def test_german_account_dialog_and_mail(
    page: Page, fresh_sandbox: RunningSandbox, mail_server: MailServer
) -> None:
    sb = fresh_sandbox
    order_id = "3043000000000100"
    await login(page, sb, BERND)
    await expect(page.locator(".comet-tabs-nav-item-active")).to_have_text("Alle anzeigen")
    await _request_cancel(
        page,
        sb,
        order_id,
        "Stornierung der Bestellung beantragen",
        "Absenden",
        "Bestätigen",
        "Ich habe doppelt bestellt",
    )
    await expect(page.locator("[data-pl=order_detail_status]")).to_have_text("Stornierung angefragt")
    wait_for_mail(mail_server, sb, BERND, rf"^Bestellung {order_id}: Stornierung angefragt$")
    sb.admin.advance(600)
    wait_for_mail(mail_server, sb, BERND, rf"^Bestellung {order_id}: Stornierung genehmigt$")
    wait_for_mail(mail_server, sb, BERND, rf"^Your order {order_id} is closed$")  # always English

    # choosing English switches texts for this browser
    await page.locator('a[data-role="language-switch"]').click()
    await expect(page.locator("[data-pl=order_detail_status]")).to_have_text("Canceled")
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    assert "b_locale=en_US" in cookies["aep_usuc_f"]
