"""The portal object one app serves: settings, scenario, clock, state, class names, mail, rendering.

Route handlers reach it as `request.app.state.portal`. `render()` fills every template with the
page's locale, the class-name helpers and the overlay/cookie-banner decisions.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sandbox.classes import ClassNames
from sandbox.clock import SandboxClock
from sandbox.i18n import lang, money, t
from sandbox.mailer import Mailer
from sandbox.model import AccountState
from sandbox.notices import Notices
from sandbox.scenario import Scenario
from sandbox.settings import SandboxSettings
from sandbox.state import PortalState

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOCALE_COOKIE = "aep_usuc_f"
_MONTHS_DE = ("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.")


class Portal:
    """Everything one running sandbox portal holds."""

    def __init__(self, settings: SandboxSettings, scenario: Scenario, token: str, base_url: str) -> None:
        self.settings = settings
        self.scenario = scenario
        self.token = token
        self.base_url = base_url
        self.clock = SandboxClock(scenario.now)
        self.classes = ClassNames(settings.hash_seed, settings.layout)
        self.mailer = Mailer(settings.lmtp_host, settings.lmtp_port)
        self.notices = Notices(self.mailer, settings.mail_link_base or base_url)
        self.state = PortalState(scenario, settings, self.clock, self.notices)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.css = self.env.get_template("portal.css.j2").render(
            cm=self.classes.module, pc=self.classes.plain
        )
        self.page_loads: Counter[tuple[str, str]] = Counter()
        """GET answers rendered so far, by (account email or "" when signed out, "page" for a full
        page or "fragment" for a partial such as the "View orders" batch). Never reset."""

    def set_base_url(self, url: str) -> None:
        self.base_url = url
        if not self.settings.mail_link_base:
            self.notices.link_base = url

    # ---- locale -----------------------------------------------------------------------------
    def locale(self, request: Request, acc: AccountState | None) -> str:
        """Locale from the `aep_usuc_f` cookie (`b_locale=`), else the account's, else English."""
        raw = request.cookies.get(LOCALE_COOKIE, "")
        for part in raw.split("&"):
            key, _, value = part.partition("=")
            if key == "b_locale" and value in ("en_US", "de_DE"):
                return value
        return acc.locale if acc else "en_US"

    # ---- rendering --------------------------------------------------------------------------
    def render(
        self,
        request: Request,
        name: str,
        ctx: dict[str, Any],
        *,
        locale: str,
        acc: AccountState | None = None,
        status: int = 200,
        overlay: bool = False,
    ) -> HTMLResponse:
        """Render a template into a full HTML answer."""
        here = str(request.url)
        data = {
            "t": lambda key, **fmt: t(locale, key, **fmt),
            "locale": locale,
            "lang": lang(locale),
            "cm": self.classes.module,
            "pc": self.classes.plain,
            "layout": self.settings.layout,
            "acc": acc,
            "money": lambda value, currency="USD": money(value, currency, locale),
            "date": lambda d: fmt_date(d, locale),
            "here": here,
            "here_q": quote(here, safe=""),
            "gdpr": request.cookies.get("sbx_gdpr") != "1",
            "overlay": overlay,
            "overlay_ms": self.settings.overlay_ms,
            "other_locale": "en_US" if locale.startswith("de") else "de_DE",
            **ctx,
        }
        html = self.env.get_template(name).render(**data)
        if request.method == "GET":
            self.page_loads[(acc.email if acc else "", "fragment" if name.startswith("_") else "page")] += 1
        return HTMLResponse(html, status_code=status)

    def want_overlay(self) -> bool:
        share = self.settings.overlay_share
        return share > 0 and self.state.rng.random() < share

    def login_redirect(self, return_url: str) -> RedirectResponse:
        """302 to the login page keeping where the buyer wanted to go."""
        return RedirectResponse(f"/login/?return_url={quote(return_url, safe='')}", status_code=302)

    def punish_url(self, return_url: str) -> str:
        blob = base64.urlsafe_b64encode(return_url.encode()).decode().rstrip("=")
        return f"/_____tmd_____/punish?x5secdata={blob}"


def fmt_date(d: datetime, locale: str) -> str:
    """`Feb 17, 2026` (English) or `17. Feb. 2026` (German)."""
    if locale.startswith("de"):
        return f"{d.day}. {_MONTHS_DE[d.month - 1]} {d.year}"
    return d.strftime("%b ") + f"{d.day}, {d.year}"


def decode_punish(blob: str) -> str:
    """The return URL inside `x5secdata` (or `/p/order/index.html` if unreadable)."""
    try:
        url = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4)).decode()
    except ValueError:
        return "/p/order/index.html"
    return url if url.startswith(("/", "http://127.0.0.1", "http://localhost")) else "/p/order/index.html"


def error_page(status: int) -> Response:
    """What the portal answers on an injected server error."""
    body = (
        f"<!doctype html><html><head><title>{status} Error</title></head><body>"
        f"<h1>{status} Service Unavailable</h1><p>The server is busy. Please try again later.</p>"
        "</body></html>"
    )
    return HTMLResponse(body, status_code=status)
