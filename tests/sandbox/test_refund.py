"""Return/refund form in a new tab: server-checked uploads, Next/Submit/Confirm, dispute lifecycle."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.sandbox.helpers import login, png_bytes, wait_for_mail

pytestmark = pytest.mark.e2e

ANN = "ann@buyer.test"
BERND = "bernd@kaeufer.test"


async def _open_form(
    page: Page,
    sb: RunningSandbox,
    order_id: str,
    line: int = 0,
    button: str = "Returns/refunds",
    first_modal: str | None = None,
) -> Page:
    await page.goto(f"{sb.url}/p/order/detail.html?orderId={order_id}")
    async with page.context.expect_page() as new_tab:
        await page.get_by_role("button", name=button).nth(line).click()
        if first_modal:
            modal = page.get_by_role("dialog", name=first_modal)
            await expect(modal).to_be_visible()
            await modal.get_by_role("button", name="No", exact=True).click()
    form = await new_tab.value
    await form.wait_for_load_state()
    assert "/p/reverse-pages/apply.html" in form.url
    return form


async def _fill(form: Page, reason: str, amount: str, files: list[Path]) -> None:
    await form.get_by_label("Return and refund").check()
    await form.locator(".comet-v2-select-show-arrow").click()
    await form.locator(".comet-v2-menu-item", has_text=reason).click()
    await form.locator("input[name=refundAmount]").fill(amount)
    await form.locator('textarea[class*="commet--textarea--"]').fill("The parcel never arrived.")
    await form.locator("input[type=file]").set_input_files([str(f) for f in files])
    await expect(form.locator('[class*="upload--imageThumb--"]')).to_have_count(len(files))


async def test_uploads_checked_by_server(page: Page, fresh_sandbox: RunningSandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox
    good = tmp_path / "photo.png"
    good.write_bytes(png_bytes())
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes(extra=2 * 1024 * 1024))
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not an image")
    fake = tmp_path / "fake.jpg"
    fake.write_text("a text file with an image name")
    await login(page, sb, ANN)
    form = await _open_form(page, sb, "3042417938137300")
    upload = form.locator("input[type=file]")
    thumbs = form.locator('[class*="upload--imageThumb--"]')
    errors = form.locator('[class*="upload--error--"][role=alert]')

    await upload.set_input_files(str(wrong))
    await expect(errors).to_have_text(
        [
            "The file format is not supported. Please upload JPG, JPEG, PNG, GIF or "
            "BMP images, or MP4 or MOV videos."
        ]
    )
    await upload.set_input_files(str(fake))
    await expect(errors).to_contain_text(["The file format is not supported"])
    await upload.set_input_files(str(big))
    await expect(errors).to_have_text(["Each image must be smaller than 2MB."])
    await expect(thumbs).to_have_count(0)

    await upload.set_input_files(str(good))
    await expect(thumbs).to_have_count(1)
    style = await thumbs.first.get_attribute("style")
    assert style and "background-image" in style and "/p/reverse-pages/api/evidence/" in style
    await expect(errors).to_have_count(0)

    # the count limit (a setting) is enforced by the server too
    sb.admin.set_settings(upload_max_files=2)
    try:
        await upload.set_input_files([str(good), str(good)])
        await expect(thumbs).to_have_count(2)
        await expect(errors).to_have_text(["You can upload up to 2 files."])
    finally:
        sb.admin.set_settings(upload_max_files=6)


async def test_submit_flow_and_duplicate_count(
    page: Page, fresh_sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path
) -> None:
    sb = fresh_sandbox
    order_id = "3042417938137300"  # two lines; seller accepts after 2 h
    photo = tmp_path / "damage.png"
    photo.write_bytes(png_bytes())
    await login(page, sb, ANN)
    form = await _open_form(page, sb, order_id, line=1)
    assert "itemId=2" in form.url
    next_step = form.get_by_role("button", name="Next step")
    await next_step.click()
    await expect(form.get_by_role("alert")).to_have_text("Please select a reason")
    await _fill(form, "Tracked as returned/canceled/lost", "30.00", [photo])
    await next_step.click()
    await expect(form.get_by_role("alert")).to_contain_text("not more than US $21.50")
    await form.locator("input[name=refundAmount]").fill("12.5")
    await next_step.click()
    submit = form.locator('button[data-pl="buyersubmit_btn_submit"]')
    await expect(submit).to_be_visible()
    await submit.click()
    await form.locator(".comet-v2-modal-footer").get_by_role("button", name="Confirm").click()
    status = form.locator('[class*="reminder--statusStr--"]')
    await expect(status).to_have_text("Waiting for seller's response")
    await expect(form.locator('[class*="reminder--stepTitle--"]')).to_have_text(
        "We're reviewing your request"
    )

    refund = sb.admin.order(order_id)["refunds"]["2"]
    assert (refund["amount"], refund["refund_type"], refund["evidence"]) == (
        "12.50",
        "return_and_refund",
        ["damage.png"],
    )
    assert sb.admin.order(order_id)["status"] == "in_dispute"
    assert sb.admin.submissions(order_id)["count"] == 1

    resp = await form.request.post(
        f"{sb.url}/p/reverse-pages/api/submit?orderId={order_id}&itemId=2",
        form={
            "refundType": "refund_only",
            "reason": "not_received",
            "refundAmount": "1.00",
            "description": "again",
        },
    )
    assert resp.status == 409
    subs = sb.admin.submissions(order_id)
    assert (subs["count"], subs["accepted"], subs["duplicates"]) == (2, 1, 1)

    wait_for_mail(mail_server, sb, ANN, rf"^Order {order_id}: Refund requested$")
    sb.admin.advance(7200)
    await form.reload()
    await expect(status).to_have_text("Refund complete")
    wait_for_mail(mail_server, sb, ANN, rf"^Order {order_id}: Refund complete$")
    assert sb.admin.order(order_id)["status"] == "awaiting_delivery"  # one line still unrefunded


async def test_counter_proposal_disagree_then_escalation(
    page: Page, fresh_sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path
) -> None:
    sb = fresh_sandbox
    order_id = "3042417938137302"  # first modal; seller counter-proposes 50 %; platform refunds
    photo = tmp_path / "p.png"
    photo.write_bytes(png_bytes())
    await login(page, sb, ANN)
    form = await _open_form(page, sb, order_id, first_modal="Have you received the item?")
    await _fill(form, "Item not received", "20.00", [photo])
    await form.get_by_role("button", name="Next step").click()
    await form.locator('button[data-pl="buyersubmit_btn_submit"]').click()
    await form.locator(".comet-v2-modal-footer").get_by_role("button", name="Confirm").click()
    status = form.locator('[class*="reminder--statusStr--"]')
    await expect(status).to_have_text("Waiting for seller's response")

    sb.admin.advance(7200)
    await form.reload()
    await expect(status).to_have_text("Waiting for your response")
    wait_for_mail(mail_server, sb, ANN, rf"^Order {order_id}: Seller proposed a solution$")
    await form.get_by_role("button", name="View possible solutions").click()
    await expect(form.get_by_text("The seller offers a partial refund of US $10.00.")).to_be_visible()
    await expect(form.get_by_role("button", name="Accept")).to_be_visible()
    await form.get_by_label("I don't agree with above solution(s)").check()
    await form.get_by_role("button", name="Upload more photos/videos").click()
    modal = form.get_by_role("dialog", name="Upload more photos/videos")
    await modal.locator("textarea[name=message]").fill("Nothing arrived at all.")
    await modal.locator("input[type=file]").set_input_files(str(photo))
    await expect(modal.locator('[class*="upload--imageThumb--"]')).to_have_count(1)
    await modal.locator(".comet-v2-modal-footer .comet-v2-btn-primary").click()
    await expect(status).to_have_text("Waiting for AliExpress's feedback")
    wait_for_mail(mail_server, sb, ANN, rf"^Order {order_id}: Dispute escalated to AliExpress$")

    sb.admin.advance(72 * 3600)
    await form.reload()
    await expect(status).to_have_text("Refund complete")
    order = sb.admin.order(order_id)
    assert order["refunds"]["1"]["refunded_amount"] == "20.00"
    assert order["status"] == "closed"
    wait_for_mail(mail_server, sb, ANN, rf"^Your order {order_id} is closed$")
    subs = sb.admin.submissions(order_id)["by_kind"]
    assert subs["refund"]["accepted"] == 1 and subs["respond"]["accepted"] == 1


async def test_german_counter_accepted(
    page: Page, fresh_sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path
) -> None:
    sb = fresh_sandbox
    order_id = "3043000000000102"
    photo = tmp_path / "p.png"
    photo.write_bytes(png_bytes())
    await login(page, sb, BERND)
    form = await _open_form(page, sb, order_id, button="Rücksendungen/Erstattungen")
    await form.locator(".comet-v2-select-show-arrow").click()
    await form.locator(".comet-v2-menu-item", has_text="Artikel nicht erhalten").click()
    await form.locator("input[type=file]").set_input_files(str(photo))
    await expect(form.locator('[class*="upload--imageThumb--"]')).to_have_count(1)
    await form.get_by_role("button", name="Nächster Schritt").click()
    await form.locator('button[data-pl="buyersubmit_btn_submit"]').click()
    await form.locator(".comet-v2-modal-footer").get_by_role("button", name="Bestätigen").click()
    status = form.locator('[class*="reminder--statusStr--"]')
    await expect(status).to_have_text("Warten auf Antwort des Verkäufers")
    wait_for_mail(mail_server, sb, BERND, rf"^Bestellung {order_id}: Erstattung beantragt$")
    sb.admin.advance(600)
    await form.reload()
    await expect(status).to_have_text("Warten auf Ihre Antwort")
    await form.get_by_role("button", name="Mögliche Lösungen ansehen").click()
    await form.get_by_role("button", name="Annehmen").click()
    await expect(status).to_have_text("Erstattung abgeschlossen")
    assert sb.admin.order(order_id)["refunds"]["1"]["refunded_amount"] == "3.00"
    wait_for_mail(mail_server, sb, BERND, rf"^Bestellung {order_id}: Erstattung abgeschlossen$")
