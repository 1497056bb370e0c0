"""Return/refund pages under /p/reverse-pages/: the form, evidence uploads, submit, counter-offer answer.

Uploads are checked by the server (type by extension and content, size, count) and answered with
the portal's own error text; the form can only submit files the server accepted. The submit and
respond POSTs are counted per order (see `PortalState.count`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox import seller
from sandbox.i18n import REFUND_REASONS, money, t
from sandbox.model import OrderState
from sandbox.portal import error_page
from sandbox.routes.common import Buyer, fault_status, guard, portal_of

IMAGE_EXT = {
    ".jpg": b"\xff\xd8\xff",
    ".jpeg": b"\xff\xd8\xff",
    ".png": b"\x89PNG",
    ".gif": b"GIF8",
    ".bmp": b"BM",
}
VIDEO_EXT = {".mp4", ".mov"}
VIDEO_THUMB = (
    "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 40 40'>"
    "<rect width='40' height='40' fill='%23333'/><path d='M15 12 L29 20 L15 28 Z' fill='white'/></svg>"
)


def _ids(request: Request) -> tuple[str, int]:
    q = request.query_params
    try:
        item_id = int(q.get("itemId", "1"))
    except ValueError:
        item_id = 0
    return (q.get("orderId") or "").strip(), item_id


def apply_url(order_id: str, item_id: int) -> str:
    return f"/p/reverse-pages/apply.html?orderId={order_id}&itemId={item_id}"


def thumb_url(up_id: str, content_type: str) -> str:
    return VIDEO_THUMB if content_type.startswith("video/") else f"/p/reverse-pages/api/evidence/{up_id}"


def render_apply(
    request: Request,
    buyer: Buyer,
    order: OrderState,
    item_id: int,
    *,
    alert: str | None = None,
    status: int = 200,
) -> Response:
    portal = portal_of(request)
    state = portal.state
    line = order.item(item_id)
    req = order.refunds.get(item_id)
    drafts = state.drafts(buyer.acc.email, order.id, item_id, "refund")
    more = state.drafts(buyer.acc.email, order.id, item_id, "respond")
    return portal.render(
        request,
        "apply.html",
        {
            "order": order,
            "line": line,
            "req": req,
            "item_id": item_id,
            "allowed": state.refund_allowed(order, item_id),
            "alert": alert,
            "reasons": REFUND_REASONS,
            "drafts": drafts,
            "more_drafts": more,
            "thumb_url": thumb_url,
            "max_files": portal.settings.upload_max_files,
        },
        locale=buyer.locale,
        acc=buyer.acc,
        status=status,
    )


async def apply_page(request: Request) -> Response:
    buyer = guard(request, page="orders")
    if not isinstance(buyer, Buyer):
        return buyer
    portal = portal_of(request)
    order_id, item_id = _ids(request)
    order = portal.state.order_of(buyer.acc.email, order_id)
    if order is None or order.item(item_id) is None:
        return portal.render(request, "not_found.html", {}, locale=buyer.locale, acc=buyer.acc, status=404)
    return render_apply(request, buyer, order, item_id)


def _check_file(portal_settings: object, name: str, data: bytes, locale: str, count: int) -> str | None:
    from sandbox.settings import SandboxSettings

    s: SandboxSettings = portal_settings  # type: ignore[assignment]
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if count >= s.upload_max_files:
        return t(locale, "rf.up_count", n=s.upload_max_files)
    if ext in IMAGE_EXT:
        if not data.startswith(IMAGE_EXT[ext]):
            return t(locale, "rf.up_type")
        if len(data) > s.upload_image_max_bytes:
            return t(locale, "rf.up_size")
        return None
    if ext in VIDEO_EXT:
        if data[4:8] != b"ftyp":
            return t(locale, "rf.up_type")
        if len(data) > s.upload_video_max_bytes:
            return t(locale, "rf.up_video_size", mb=round(s.upload_video_max_bytes / 1024 / 1024))
        return None
    return t(locale, "rf.up_type")


async def upload(request: Request) -> Response:
    portal = portal_of(request)
    fault = fault_status(request)
    if fault:
        return JSONResponse({"ok": False, "error": "server error"}, status_code=fault)
    buyer = guard(request, api=True)
    if not isinstance(buyer, Buyer):
        return buyer
    order_id, item_id = _ids(request)
    purpose = request.query_params.get("purpose", "refund")
    order = portal.state.order_of(buyer.acc.email, order_id)
    if order is None or order.item(item_id) is None or purpose not in ("refund", "respond"):
        return JSONResponse({"ok": False, "error": t(buyer.locale, "rf.up_failed")}, status_code=404)
    form = await request.form(max_files=20)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return JSONResponse({"ok": False, "error": t(buyer.locale, "rf.up_failed")}, status_code=400)
    data = await file.read()
    count = len(portal.state.drafts(buyer.acc.email, order_id, item_id, purpose))
    error = _check_file(portal.settings, file.filename, data, buyer.locale, count)
    if error:
        return JSONResponse({"ok": False, "error": error, "filename": file.filename}, status_code=400)
    ctype = file.content_type or "application/octet-stream"
    ext = file.filename.rsplit(".", 1)[-1].lower()
    if ext in ("mp4", "mov"):
        ctype = "video/mp4" if ext == "mp4" else "video/quicktime"
    up = portal.state.add_upload(buyer.acc.email, order_id, item_id, purpose, file.filename, ctype, data)
    return JSONResponse({"ok": True, "id": up.id, "filename": up.filename, "url": thumb_url(up.id, ctype)})


async def upload_remove(request: Request) -> Response:
    buyer = guard(request, api=True)
    if not isinstance(buyer, Buyer):
        return buyer
    state = portal_of(request).state
    up = state.uploads.get(request.path_params["up_id"])
    if up is None or not up.draft or up.email.lower() != buyer.acc.email.lower():
        return JSONResponse({"ok": False}, status_code=404)
    del state.uploads[up.id]
    return JSONResponse({"ok": True})


async def evidence(request: Request) -> Response:
    buyer = guard(request, api=True)
    if not isinstance(buyer, Buyer):
        return buyer
    up = portal_of(request).state.uploads.get(request.path_params["up_id"])
    if up is None or up.email.lower() != buyer.acc.email.lower():
        return Response(status_code=404)
    return Response(up.data, media_type=up.content_type)


async def submit(request: Request) -> Response:
    portal = portal_of(request)
    state = portal.state
    order_id, item_id = _ids(request)
    fault = fault_status(request)
    if fault:
        state.count(order_id, "refund", "rejected_by_fault", item_id)
        return error_page(fault)
    buyer = guard(request, return_url=str(request.base_url).rstrip("/") + apply_url(order_id, item_id))
    if not isinstance(buyer, Buyer):
        state.count(order_id, "refund", "blocked", item_id)
        return buyer
    order = state.order_of(buyer.acc.email, order_id)
    line = order.item(item_id) if order else None
    if order is None or line is None:
        return portal.render(request, "not_found.html", {}, locale=buyer.locale, acc=buyer.acc, status=404)
    form = await request.form()
    loc = buyer.locale
    if item_id in order.refunds:
        state.count(order_id, "refund", "duplicates", item_id)
        return render_apply(request, buyer, order, item_id, alert=t(loc, "rf.duplicate"), status=409)
    if not state.refund_allowed(order, item_id):
        state.count(order_id, "refund", "invalid", item_id)
        return render_apply(request, buyer, order, item_id, alert=t(loc, "rf.not_eligible"), status=409)
    refund_type = str(form.get("refundType", ""))
    reason = str(form.get("reason", ""))
    description = str(form.get("description", "")).strip()[:2000]
    drafts = {u.id for u in state.drafts(buyer.acc.email, order_id, item_id, "refund")}
    evidence = [str(v) for v in form.getlist("evidence") if str(v) in drafts]
    error = None
    try:
        amount = Decimal(str(form.get("refundAmount", "")).replace(",", ".").strip())
    except InvalidOperation:
        amount = Decimal("-1")
    if refund_type not in ("refund_only", "return_and_refund") or reason not in REFUND_REASONS:
        error = t(loc, "rf.pick_reason")
    elif not (Decimal("0") < amount <= line.paid):
        error = t(loc, "rf.amount_error", amount=money(line.paid, order.currency, loc))
    elif not evidence:
        error = t(loc, "rf.add_attachments")
    if error:
        state.count(order_id, "refund", "invalid", item_id)
        return render_apply(request, buyer, order, item_id, alert=error, status=400)
    seller.submit_refund(
        state,
        order,
        item_id,
        refund_type=refund_type,
        reason=reason,
        amount=amount.quantize(Decimal("0.01")),
        description=description,
        evidence=evidence,
    )
    state.count(order_id, "refund", "accepted", item_id)
    return RedirectResponse(apply_url(order_id, item_id), status_code=303)


async def respond(request: Request) -> Response:
    portal = portal_of(request)
    state = portal.state
    order_id, item_id = _ids(request)
    fault = fault_status(request)
    if fault:
        state.count(order_id, "respond", "rejected_by_fault", item_id)
        return error_page(fault)
    buyer = guard(request, return_url=str(request.base_url).rstrip("/") + apply_url(order_id, item_id))
    if not isinstance(buyer, Buyer):
        state.count(order_id, "respond", "blocked", item_id)
        return buyer
    order = state.order_of(buyer.acc.email, order_id)
    if order is None or order.item(item_id) is None:
        return portal.render(request, "not_found.html", {}, locale=buyer.locale, acc=buyer.acc, status=404)
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in ("accept", "disagree"):
        state.count(order_id, "respond", "invalid", item_id)
        return render_apply(request, buyer, order, item_id, alert=t(buyer.locale, "rf.error"), status=400)
    drafts = {u.id for u in state.drafts(buyer.acc.email, order_id, item_id, "respond")}
    evidence = [str(v) for v in form.getlist("evidence") if str(v) in drafts]
    outcome = seller.respond(state, order, item_id, action, str(form.get("message", ""))[:2000], evidence)
    if outcome == "accepted":
        state.count(order_id, "respond", "accepted", item_id)
        return RedirectResponse(apply_url(order_id, item_id), status_code=303)
    kind = "duplicates" if outcome == "duplicate" else "invalid"
    state.count(order_id, "respond", kind, item_id)
    return render_apply(request, buyer, order, item_id, alert=t(buyer.locale, "rf.duplicate"), status=409)


async def refund_list(request: Request) -> Response:
    buyer = guard(request, page="orders")
    if not isinstance(buyer, Buyer):
        return buyer
    portal = portal_of(request)
    rows = [(o, r) for o in portal.state.orders_of(buyer.acc.email) for r in o.refunds.values()]
    return portal.render(request, "refund_list.html", {"rows": rows}, locale=buyer.locale, acc=buyer.acc)


routes = [
    Route("/p/reverse-pages/apply.html", apply_page),
    Route("/p/reverse-pages/api/upload", upload, methods=["POST"]),
    Route("/p/reverse-pages/api/upload/{up_id}/remove", upload_remove, methods=["POST"]),
    Route("/p/reverse-pages/api/evidence/{up_id}", evidence),
    Route("/p/reverse-pages/api/submit", submit, methods=["POST"]),
    Route("/p/reverse-pages/api/respond", respond, methods=["POST"]),
    Route("/p/refund-dispute/list.html", refund_list),
]
