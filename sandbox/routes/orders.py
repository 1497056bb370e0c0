"""My Orders, order detail, cancellation, tracking and the language switch."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from sandbox import seller
from sandbox.i18n import CANCEL_REASONS, t
from sandbox.model import OrderState
from sandbox.portal import LOCALE_COOKIE, error_page
from sandbox.routes.common import Buyer, fault_status, guard, portal_of

BATCH = 20


def _order_id(request: Request) -> str:
    q = request.query_params
    return (q.get("orderId") or q.get("tradeOrderId") or "").strip()


async def order_list(request: Request) -> Response:
    buyer = guard(request, page="orders")
    if not isinstance(buyer, Buyer):
        return buyer
    portal = portal_of(request)
    tab = request.query_params.get("tab", "all")
    keyword = request.query_params.get("keyword", "")
    orders = portal.state.orders_of(buyer.acc.email, tab, keyword)
    return portal.render(
        request,
        "orders.html",
        {
            "orders": orders[:BATCH],
            "has_more": len(orders) > BATCH,
            "tab": tab,
            "keyword": keyword,
            "tabs": ("all", "to_pay", "to_ship", "shipped", "processed"),
        },
        locale=buyer.locale,
        acc=buyer.acc,
        overlay=portal.want_overlay(),
    )


async def order_list_more(request: Request) -> Response:
    buyer = guard(request, page="orders", api=True, return_url=str(request.url_for("order_list")))
    if not isinstance(buyer, Buyer):
        return buyer
    portal = portal_of(request)
    q = request.query_params
    try:
        offset = max(0, int(q.get("offset", "0")))
    except ValueError:
        offset = 0
    orders = portal.state.orders_of(buyer.acc.email, q.get("tab", "all"), q.get("keyword", ""))
    batch = orders[offset : offset + BATCH]
    resp = portal.render(request, "_cards.html", {"orders": batch}, locale=buyer.locale, acc=buyer.acc)
    resp.headers["X-Has-More"] = "1" if len(orders) > offset + BATCH else "0"
    resp.headers["X-Next-Offset"] = str(offset + len(batch))
    return resp


def render_detail(
    request: Request, buyer: Buyer, order: OrderState, *, alert: str | None = None, status: int = 200
) -> HTMLResponse:
    portal = portal_of(request)
    state = portal.state
    lines = [
        {
            "item": i,
            "refund": order.refunds.get(i.item_id),
            "refund_allowed": state.refund_allowed(order, i.item_id),
        }
        for i in order.items
    ]
    return portal.render(
        request,
        "detail.html",
        {
            "order": order,
            "lines": lines,
            "alert": alert,
            "reasons": CANCEL_REASONS,
            "can_cancel_now": order.status in ("awaiting_payment", "payment_verifying"),
            "can_request_cancel": order.status == "awaiting_shipment",
        },
        locale=buyer.locale,
        acc=buyer.acc,
        status=status,
        overlay=alert is None and portal.want_overlay(),
    )


async def order_detail(request: Request) -> Response:
    buyer = guard(request, page="orders")
    if not isinstance(buyer, Buyer):
        return buyer
    portal = portal_of(request)
    order = portal.state.order_of(buyer.acc.email, _order_id(request))
    if order is None:
        return portal.render(request, "not_found.html", {}, locale=buyer.locale, acc=buyer.acc, status=404)
    return render_detail(request, buyer, order)


async def cancel_submit(request: Request) -> Response:
    portal = portal_of(request)
    state = portal.state
    order_id = _order_id(request)
    detail_url = f"/p/order/detail.html?orderId={order_id}"
    fault = fault_status(request)
    if fault:
        state.count(order_id, "cancel", "rejected_by_fault")
        return error_page(fault)
    buyer = guard(request, return_url=str(request.base_url).rstrip("/") + detail_url)
    if not isinstance(buyer, Buyer):
        state.count(order_id, "cancel", "blocked")
        return buyer
    order = state.order_of(buyer.acc.email, order_id)
    if order is None:
        return portal.render(request, "not_found.html", {}, locale=buyer.locale, acc=buyer.acc, status=404)
    form = await request.form()
    reason = str(form.get("reason", ""))
    comment = str(form.get("comment", ""))[:512]
    if reason not in CANCEL_REASONS:
        state.count(order_id, "cancel", "invalid")
        return render_detail(request, buyer, order, alert=t(buyer.locale, "cancel.pick_reason"), status=400)
    outcome = seller.cancel(state, order, reason, comment)
    if outcome == "accepted":
        state.count(order_id, "cancel", "accepted")
        return RedirectResponse(detail_url, status_code=303)
    if outcome == "duplicate":
        state.count(order_id, "cancel", "duplicates")
        return render_detail(request, buyer, order, alert=t(buyer.locale, "cancel.duplicate"), status=409)
    state.count(order_id, "cancel", "invalid")
    return render_detail(request, buyer, order, alert=t(buyer.locale, "cancel.not_allowed"), status=409)


async def tracking(request: Request) -> Response:
    buyer = guard(request, page="orders")
    if not isinstance(buyer, Buyer):
        return buyer
    portal = portal_of(request)
    order = portal.state.order_of(buyer.acc.email, _order_id(request))
    if order is None:
        return portal.render(request, "not_found.html", {}, locale=buyer.locale, acc=buyer.acc, status=404)
    return portal.render(request, "tracking.html", {"order": order}, locale=buyer.locale, acc=buyer.acc)


async def locale_switch(request: Request) -> Response:
    locale = request.query_params.get("locale", "en_US")
    if locale not in ("en_US", "de_DE"):
        locale = "en_US"
    back = request.query_params.get("return_url") or "/p/order/index.html"
    if not back.startswith("/") and not back.startswith(str(request.base_url)):
        back = "/p/order/index.html"
    resp = RedirectResponse(back, status_code=302)
    region = "DE" if locale == "de_DE" else "US"
    resp.set_cookie(
        LOCALE_COOKIE,
        f"site=glo&c_tp=USD&region={region}&b_locale={locale}",
        max_age=365 * 86400,
        samesite="lax",
    )
    return resp


async def home(request: Request) -> Response:
    return RedirectResponse("/p/order/index.html", status_code=302)


routes = [
    Route("/", home),
    Route("/p/order/index.html", order_list, name="order_list"),
    Route("/p/order/api/list", order_list_more),
    Route("/p/order/detail.html", order_detail),
    Route("/p/order/api/cancel", cancel_submit, methods=["POST"]),
    Route("/p/tracking/index.html", tracking),
    Route("/p/locale/switch", locale_switch),
]
