"""Shared steps of buyer-page handlers: session check, challenge gate, fault flags.

`guard()` answers with a redirect/challenge `Response` when the buyer may not see the page, or
gives back the signed-in account and session.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from sandbox.model import AccountState, Session
from sandbox.portal import Portal


@dataclass
class Buyer:
    """The signed-in buyer of a request."""

    acc: AccountState
    session: Session
    locale: str


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def fault_status(request: Request) -> int | None:
    """The 5xx the fault middleware decided for this submit request, if any."""
    value = getattr(request.state, "fault_error", None)
    return int(value) if value else None


def guard(
    request: Request, *, page: str = "", api: bool = False, return_url: str | None = None
) -> Buyer | Response:
    """Signed-in buyer, or the answer that replaces the page (login bounce, slider challenge).

    `page="orders"` marks order pages (list/detail/refund form), where the account's `orders`
    challenge rule and the challenge fault share apply.
    """
    portal = portal_of(request)
    state = portal.state
    state.process_due()
    back = return_url or str(request.url)
    token = request.cookies.get("sbx_session")
    if (
        token
        and state.faults.session_expiry_share > 0
        and state.rng.random() < state.faults.session_expiry_share
    ):
        state.sessions.pop(token, None)
    session = state.session(token)
    if session is None:
        if api:
            return JSONResponse({"action": "login", "url": f"/login/?return_url={back}"}, status_code=401)
        return portal.login_redirect(back)
    acc = state.account(session.email)
    if acc is None:
        return portal.login_redirect(back)
    if page == "orders" and request.method == "GET" and not api:
        if acc.spec.challenge in ("orders", "always") and not session.orders_challenged:
            session.orders_challenged = True
            state.raise_challenge(acc, acc.spec.challenge_form)
        share = state.faults.challenge_share
        if share > 0 and not acc.challenge_pending and state.rng.random() < share:
            state.raise_challenge(acc, state.faults.challenge_form)
    locale = portal.locale(request, acc)
    if acc.challenge_pending:
        punish = portal.punish_url(back)
        if api or request.method != "GET":
            return JSONResponse({"action": "captcha", "url": punish}, status_code=200)
        if acc.challenge_form == "page":
            return RedirectResponse(punish, status_code=302)
        return portal.render(request, "challenge_dialog.html", {}, locale=locale, acc=acc)
    return Buyer(acc, session, locale)
