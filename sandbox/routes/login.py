"""Login pages: email + password, lockout, emailed code or TOTP, session cookies.

Wrong password and wrong code both count towards the lockout; a locked account is refused even
with the right password until `lockout_s` sandbox seconds have passed.

After sign-in the browser goes to `return_url`; with none (the login page opened directly) it
lands on the account's locale home, like the real site's locale host (`de.aliexpress.com` for a
German account, `www.aliexpress.com` else). Loopback has no such hosts, so the sandbox stands for
them with a path: `/de/`, `/www/` (see CONTRACT.md, "Sandbox limitations").
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from sandbox.routes.common import Buyer, guard, portal_of

DEFAULT_RETURN = "/p/order/index.html"
LOCALE_HOSTS = ("de", "www")
"""Path segments standing for the real locale hosts (`de.aliexpress.com`, `www.aliexpress.com`)."""


def locale_home(locale: str) -> str:
    """The landing path after a sign-in without `return_url`: `/de/` for German accounts, else `/www/`."""
    return "/de/" if locale.startswith("de") else "/www/"


def _safe_return(request: Request, url: str | None) -> str:
    portal = portal_of(request)
    if not url:
        return DEFAULT_RETURN
    if url.startswith("/") and not url.startswith("//"):
        return url
    base = str(request.base_url).rstrip("/")
    if url.startswith((base + "/", portal.base_url + "/")):
        return url
    return DEFAULT_RETURN


def _device(request: Request) -> str:
    return request.cookies.get("sbx_device") or secrets.token_hex(8)


def _page(request: Request, *, error: str | None = None, email: str = "", status: int = 200) -> Response:
    portal = portal_of(request)
    locale = portal.locale(request, None)
    asked = request.query_params.get("return_url")
    return_url = _safe_return(request, asked) if asked else ""
    resp = portal.render(
        request,
        "login.html",
        {"error": error, "email": email, "return_url": return_url},
        locale=locale,
        status=status,
    )
    if "sbx_device" not in request.cookies:
        resp.set_cookie(
            "sbx_device", _device(request), max_age=10 * 365 * 86400, httponly=True, samesite="lax"
        )
    return resp


async def login_page(request: Request) -> Response:
    if request.url.path == "/login":
        return RedirectResponse("/login/" + ("?" + request.url.query if request.url.query else ""), 302)
    return _page(request)


async def login_submit(request: Request) -> Response:
    portal = portal_of(request)
    state = portal.state
    state.process_due()
    form = await request.form()
    email = str(form.get("fm-login-id", "")).strip()
    password = str(form.get("fm-login-password", ""))
    asked = str(form.get("return_url", "")) or request.query_params.get("return_url")
    return_url = _safe_return(request, asked) if asked else ""
    locale = portal.locale(request, None)
    from sandbox.i18n import t

    if email and not password:
        return _page(request, email=email)
    acc = state.account(email)
    if acc is not None and state.is_locked(acc):
        return _page(request, error=t(locale, "login.locked"), email=email, status=403)
    if acc is None or not secrets.compare_digest(acc.spec.password, password):
        if acc is not None:
            state.login_failed(acc)
            if state.is_locked(acc):
                return _page(request, error=t(locale, "login.locked"), email=email, status=403)
        return _page(request, error=t(locale, "login.error"), email=email, status=401)
    device = request.cookies.get("sbx_device")
    if state.needs_code(acc, device):
        pend = state.start_pending(acc, return_url)
        resp = RedirectResponse("/login/verify", status_code=303)
        resp.set_cookie("sbx_pending", pend.token, httponly=True, samesite="lax")
        return resp
    return _signed_in(request, acc.email, return_url)


def _signed_in(request: Request, email: str, return_url: str) -> Response:
    state = portal_of(request).state
    acc = state.account(email)
    assert acc is not None
    sess = state.create_session(acc)
    device = _device(request)
    acc.known_devices.add(device)
    resp = RedirectResponse(return_url or locale_home(acc.spec.locale), status_code=303)
    resp.set_cookie("sbx_session", sess.token, httponly=True, samesite="lax")
    resp.set_cookie("sbx_device", device, max_age=10 * 365 * 86400, httponly=True, samesite="lax")
    resp.delete_cookie("sbx_pending")
    return resp


def _verify_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    portal = portal_of(request)
    pend = portal.state.pending.get(request.cookies.get("sbx_pending", ""))
    if pend is None:
        return RedirectResponse("/login/", status_code=302)
    acc = portal.state.account(pend.email)
    assert acc is not None
    locale = portal.locale(request, acc)
    return portal.render(
        request,
        "verify.html",
        {"error": error, "totp": bool(acc.spec.totp_secret), "email": acc.email},
        locale=locale,
        status=status,
    )


async def verify_page(request: Request) -> Response:
    return _verify_page(request)


async def verify_submit(request: Request) -> Response:
    portal = portal_of(request)
    state = portal.state
    pend = state.pending.get(request.cookies.get("sbx_pending", ""))
    if pend is None:
        return RedirectResponse("/login/", status_code=303)
    acc = state.account(pend.email)
    assert acc is not None
    from sandbox.i18n import t

    locale = portal.locale(request, acc)
    if state.is_locked(acc):
        return _verify_page(request, error=t(locale, "login.locked"), status=403)
    form = await request.form()
    if not state.code_ok(acc, pend, str(form.get("code", ""))):
        state.login_failed(acc)
        key = "login.locked" if state.is_locked(acc) else "login.verify_error"
        return _verify_page(request, error=t(locale, key), status=401)
    del state.pending[pend.token]
    return _signed_in(request, acc.email, pend.return_url)


async def home(request: Request) -> Response:
    """The locale home a sign-in without `return_url` lands on (header with My Orders)."""
    buyer = guard(request)
    if not isinstance(buyer, Buyer):
        return buyer
    return portal_of(request).render(request, "home.html", {}, locale=buyer.locale, acc=buyer.acc)


async def logout(request: Request) -> Response:
    state = portal_of(request).state
    state.sessions.pop(request.cookies.get("sbx_session", ""), None)
    resp = RedirectResponse("/login/", status_code=302)
    resp.delete_cookie("sbx_session")
    return resp


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login/", login_page, methods=["GET"]),
    Route("/login/", login_submit, methods=["POST"]),
    Route("/login/verify", verify_page, methods=["GET"]),
    Route("/login/verify", verify_submit, methods=["POST"]),
    Route("/login/logout", logout, methods=["GET", "POST"]),
    *(Route(f"/{host}/", home, methods=["GET"]) for host in LOCALE_HOSTS),
]
