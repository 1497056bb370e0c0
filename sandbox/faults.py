"""ASGI middleware injecting the active `Faults` into portal requests.

Never touches `/__sandbox__/` (admin) or `/_sbx/` (static files). On the submit paths an injected
5xx is only flagged (`scope["state"]["fault_error"]`) so that the handler can count it as
`rejected_by_fault` and answer before changing anything; elsewhere the middleware answers itself.
A dropped connection sends the headers and then breaks off the answer.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.portal import Portal, error_page

SUBMIT_PATHS = frozenset(
    {
        "/p/order/api/cancel",
        "/p/reverse-pages/api/submit",
        "/p/reverse-pages/api/respond",
        "/p/reverse-pages/api/upload",
    }
)
EXEMPT_PREFIXES = ("/__sandbox__/", "/_sbx/")


class DroppedConnection(Exception):
    """Raised after a partial answer so that the server cuts the connection."""


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every connection we cut on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


class FaultMiddleware:
    """Latency, 5xx answers and dropped connections by the portal's active faults."""

    def __init__(self, app: ASGIApp, portal: Portal) -> None:
        self.app = app
        self.portal = portal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        state = self.portal.state
        f = state.faults
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        method = scope["method"]
        if self._roll_drop(method):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/html"), (b"content-length", b"100000")],
                }
            )
            await send({"type": "http.response.body", "body": b"<!doctype html><html>", "more_body": True})
            raise DroppedConnection("fault: dropped connection")
        if self._roll_error(method):
            if scope["path"] in SUBMIT_PATHS:
                scope.setdefault("state", {})["fault_error"] = f.error_status
            else:
                await error_page(f.error_status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _roll_error(self, method: str) -> bool:
        state = self.portal.state
        f = state.faults
        if f.error_methods == "POST" and method != "POST":
            return False
        if f.error_next > 0:
            state.faults = f.model_copy(update={"error_next": f.error_next - 1})
            return True
        return f.error_share > 0 and state.rng.random() < f.error_share

    def _roll_drop(self, method: str) -> bool:
        state = self.portal.state
        f = state.faults
        if f.drop_next > 0 and method == "GET":
            state.faults = f.model_copy(update={"drop_next": f.drop_next - 1})
            return True
        return f.drop_share > 0 and state.rng.random() < f.drop_share
