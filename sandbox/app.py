"""Builds the Starlette app of one sandbox portal."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sandbox import admin
from sandbox.faults import FaultMiddleware
from sandbox.portal import Portal
from sandbox.routes import challenge, login, orders, refund

STATIC = Path(__file__).resolve().parent / "static"


async def stylesheet(request: Request) -> Response:
    """The stylesheet, rendered with this start's hashed class names."""
    portal: Portal = request.app.state.portal
    return Response(portal.css, media_type="text/css", headers={"Cache-Control": "no-store"})


def build_app(portal: Portal) -> Starlette:
    """The ASGI app serving `portal` (faults middleware outermost)."""
    routes = [
        *login.routes,
        *orders.routes,
        *refund.routes,
        *challenge.routes,
        *admin.routes,
        Route("/_sbx/portal.css", stylesheet),
        Mount("/_sbx/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(FaultMiddleware, portal=portal)])
    app.state.portal = portal
    return app
