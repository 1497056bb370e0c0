"""Token-protected admin API under `/__sandbox__/` (header `X-Sandbox-Token`).

Stands in for the world outside the browser: the clock, the seller, a human solving a challenge,
faults, and what was submitted and mailed. A wrong or missing token answers 401; bad input 400.
Faults never apply here.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import seller
from sandbox.model import AccountState
from sandbox.routes.common import portal_of
from sandbox.scenario import STATUSES
from sandbox.settings import SandboxSettings

RUNTIME_SETTINGS = frozenset(
    {
        "overlay_share",
        "overlay_ms",
        "session_lifetime_s",
        "lockout_after",
        "lockout_s",
        "upload_image_max_bytes",
        "upload_video_max_bytes",
        "upload_max_files",
        "cancel_auto_approve_hours",
        "refund_auto_accept_hours",
        "platform_decision_hours",
        "refund_window_days",
    }
)


def _authorised(request: Request) -> bool:
    given = request.headers.get("x-sandbox-token", "")
    return secrets.compare_digest(given.encode(), portal_of(request).token.encode())


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("JSON object expected")
    return data


Handler = Callable[[Request, dict[str, Any]], Awaitable[Any]]


def admin(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: token check, JSON body parsing, 400 on bad input."""

    async def wrapped(request: Request) -> Response:
        if not _authorised(request):
            return JSONResponse({"error": "bad token"}, status_code=401)
        try:
            body = await _body(request)
            result = await fn(request, body)
        except (ValueError, KeyError, ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return result if isinstance(result, Response) else JSONResponse(result)

    return wrapped


@admin
async def state(request: Request, body: dict[str, Any]) -> Any:
    st = portal_of(request).state
    st.process_due()
    return st.snapshot()


@admin
async def submissions(request: Request, body: dict[str, Any]) -> Any:
    st = portal_of(request).state
    order_id = request.query_params.get("order_id")
    if order_id:
        return st.submission_summary(order_id)
    return {oid: st.submission_summary(oid) for oid in list(st.submissions)}


@admin
async def clock(request: Request, body: dict[str, Any]) -> Any:
    st = portal_of(request).state
    st.process_due()
    return {"now": st.now().isoformat(), "pending_events": len(st.events)}


@admin
async def clock_advance(request: Request, body: dict[str, Any]) -> Any:
    portal = portal_of(request)
    portal.clock.advance(float(body["seconds"]))
    ran = portal.state.process_due()
    return {
        "now": portal.state.now().isoformat(),
        "events_ran": ran,
        "pending_events": len(portal.state.events),
    }


def _acc(request: Request, body: dict[str, Any]) -> AccountState:
    acc = portal_of(request).state.account(str(body["account"]))
    if acc is None:
        raise KeyError(f"unknown account {body['account']}")
    return acc


@admin
async def challenge_clear(request: Request, body: dict[str, Any]) -> Any:
    acc = _acc(request, body)
    was = acc.challenge_pending
    acc.challenge_pending = False
    return {"account": acc.email, "was_pending": was}


@admin
async def challenge_raise(request: Request, body: dict[str, Any]) -> Any:
    acc = _acc(request, body)
    form = str(body.get("form", acc.spec.challenge_form))
    if form not in ("dialog", "page"):
        raise ValueError("form must be dialog or page")
    portal_of(request).state.raise_challenge(acc, form)
    return {"account": acc.email, "form": form}


@admin
async def faults(request: Request, body: dict[str, Any]) -> Any:
    st = portal_of(request).state
    if request.method == "POST":
        st.set_faults(body)
    return st.faults.model_dump()


@admin
async def faults_clear(request: Request, body: dict[str, Any]) -> Any:
    st = portal_of(request).state
    st.faults = type(st.faults)()
    return st.faults.model_dump()


@admin
async def settings(request: Request, body: dict[str, Any]) -> Any:
    portal = portal_of(request)
    unknown = set(body) - RUNTIME_SETTINGS
    if unknown:
        raise ValueError(f"not changeable at run time: {sorted(unknown)}")
    checked = SandboxSettings.model_validate({**portal.settings.model_dump(), **body})
    for key in body:
        setattr(portal.settings, key, getattr(checked, key))
    return {k: getattr(portal.settings, k) for k in sorted(RUNTIME_SETTINGS)}


@admin
async def sessions_expire(request: Request, body: dict[str, Any]) -> Any:
    st = portal_of(request).state
    email = body.get("account")
    return {"expired": st.expire_sessions(str(email) if email else None)}


@admin
async def mail(request: Request, body: dict[str, Any]) -> Any:
    portal = portal_of(request)
    if request.query_params.get("wait"):
        await asyncio.to_thread(portal.mailer.wait_idle, 15.0)
    return portal.mailer.log()


@admin
async def order_status(request: Request, body: dict[str, Any]) -> Any:
    st = portal_of(request).state
    order = st.orders.get(request.path_params["order_id"])
    if order is None:
        raise KeyError("unknown order")
    status = str(body["status"])
    if status not in STATUSES:
        raise ValueError(f"unknown status {status}")
    seller.set_status(st, order, status, mail=bool(body.get("mail", True)))
    return {"order_id": order.id, "status": order.status}


@admin
async def page_loads(request: Request, body: dict[str, Any]) -> Any:
    """GET answers rendered per account: {email: {"page": n, "fragment": m}} ("" = signed out)."""
    out: dict[str, dict[str, int]] = {}
    for (email, kind), n in portal_of(request).page_loads.items():
        out.setdefault(email, {"page": 0, "fragment": 0})[kind] = n
    return out


@admin
async def reset(request: Request, body: dict[str, Any]) -> Any:
    portal = portal_of(request)
    st = portal.state
    st.reset()
    st.faults = portal.settings.faults.model_copy()
    return {"ok": True, "orders": len(st.orders)}


routes = [
    Route("/__sandbox__/state", state),
    Route("/__sandbox__/submissions", submissions),
    Route("/__sandbox__/clock", clock),
    Route("/__sandbox__/clock/advance", clock_advance, methods=["POST"]),
    Route("/__sandbox__/challenge/clear", challenge_clear, methods=["POST"]),
    Route("/__sandbox__/challenge/raise", challenge_raise, methods=["POST"]),
    Route("/__sandbox__/faults", faults, methods=["GET", "POST"]),
    Route("/__sandbox__/faults/clear", faults_clear, methods=["POST"]),
    Route("/__sandbox__/settings", settings, methods=["POST"]),
    Route("/__sandbox__/sessions/expire", sessions_expire, methods=["POST"]),
    Route("/__sandbox__/mail", mail),
    Route("/__sandbox__/orders/{order_id}/status", order_status, methods=["POST"]),
    Route("/__sandbox__/reset", reset, methods=["POST"]),
    Route("/__sandbox__/page_loads", page_loads),
]
