"""The slider challenge ("baxia"/"nocaptcha"): full punish page, in-page frame, refused slides.

Every slide is refused, whatever the trajectory: only the admin call
`POST /__sandbox__/challenge/clear` (standing in for a human) lifts a challenge. Pages poll
`/_____tmd_____/status` and continue on their own once it is lifted.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.i18n import t
from sandbox.model import AccountState
from sandbox.portal import decode_punish
from sandbox.routes.common import portal_of


def _account(request: Request) -> AccountState | None:
    state = portal_of(request).state
    sess = state.sessions.get(request.cookies.get("sbx_session", ""))
    return state.account(sess.email) if sess else None


async def punish(request: Request) -> Response:
    portal = portal_of(request)
    acc = _account(request)
    back = decode_punish(request.query_params.get("x5secdata", ""))
    return portal.render(request, "punish.html", {"back": back}, locale=portal.locale(request, acc), acc=acc)


async def slider(request: Request) -> Response:
    portal = portal_of(request)
    acc = _account(request)
    return portal.render(request, "slider.html", {"back": ""}, locale=portal.locale(request, acc), acc=acc)


async def slide(request: Request) -> Response:
    portal = portal_of(request)
    acc = _account(request)
    locale = portal.locale(request, acc)
    portal.state.slide_attempts += 1
    return JSONResponse({"ok": False, "message": t(locale, "ch.failed")}, status_code=200)


async def status(request: Request) -> Response:
    acc = _account(request)
    return JSONResponse({"pending": bool(acc and acc.challenge_pending)})


routes = [
    Route("/_____tmd_____/punish", punish),
    Route("/_____tmd_____/slider.html", slider),
    Route("/_____tmd_____/slide", slide, methods=["POST"]),
    Route("/_____tmd_____/status", status),
]
