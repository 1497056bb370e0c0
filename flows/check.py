"""`selectors check`: open the portal's pages for one account and report, per locator of the
pack, whether it resolved and through which fallback.

Read-only: it opens the login page, signs in, opens My Orders, an order's detail page, the
Returns & refunds list and (when given) the return/refund tab of an eligible order, and never
clicks anything that sends a request. Pages it does not visit (dialogs opened only by actions)
are reported as not visited.
`CheckReport.failed` is True when a required locator found nothing on a visited page, or a page
could not be opened: the CLI turns that into a non-zero exit status.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field

from playwright.async_api import Page

from bot.errors import LocatorMissingError, RecoupError
from bot.errors_playwright import playwright_errors
from flows.env import FlowEnv
from flows.login import CodeSource, Credentials, log_in
from flows.pack import Param, Root, describe
from flows.pages.base import PortalPage
from flows.pages.order_detail import OrderDetailPage
from flows.pages.order_list import OrderListPage
from flows.pages.refund_list import RefundListPage

SECOND_CHANCE_MS = 1_500.0
"""A required locator that is absent at first is waited for this long before it counts as missing."""


@dataclass(frozen=True)
class LocatorReport:
    """One locator on one visited page. `index` is the alternative that matched (0 = first)."""

    key: str
    required: bool
    index: int | None
    alternative: str | None
    tried: tuple[str, ...]
    note: str = ""

    @property
    def missing_required(self) -> bool:
        """A required locator that found nothing (and was checked)."""
        return self.required and self.index is None and not self.note

    @property
    def outcome(self) -> str:
        """`hit` (first alternative), `fallback` (a later one), `miss` (required, nothing),
        `absent` (optional, nothing) or `not_checked` (see `note`)."""
        if self.index is not None:
            return "hit" if self.index == 0 else "fallback"
        if self.note:
            return "not_checked"
        return "miss" if self.required else "absent"


@dataclass
class PageReport:
    """One page of the pack: visited or not, and its locators."""

    page: str
    url: str | None = None
    visited: bool = False
    error: str | None = None
    locators: list[LocatorReport] = field(default_factory=list)


@dataclass
class CheckReport:
    """The whole check."""

    portal: str
    pack_path: str
    pages: list[PageReport]

    @property
    def missing(self) -> list[tuple[str, LocatorReport]]:
        """(page, locator) of every required locator that found nothing."""
        return [(p.page, loc) for p in self.pages for loc in p.locators if loc.missing_required]

    @property
    def failed(self) -> bool:
        """True when the check should fail the command (missing required locator, page error)."""
        return bool(self.missing) or any(p.error for p in self.pages)


def _params(env: FlowEnv, key: str, order_id: str | None) -> dict[str, Param] | None:
    """Sample parameters for a parameterised locator, or None when it cannot be checked here."""
    wanted = env.pack.entry(key).params
    known: dict[str, Param] = {"value": "refund_only"}
    if order_id:
        known["order_id"] = order_id
    if any(p not in known for p in wanted):
        return None
    return {p: known[p] for p in wanted}


async def check_page(portal: PortalPage, page_name: str, *, order_id: str | None = None) -> PageReport:
    """Probe every locator of pack page `page_name` on the page `portal` shows now."""
    env, pack = portal.env, portal.pack
    report = PageReport(page_name, url=portal.page.url, visited=True)
    for key in pack.locator_keys(page_name):
        entry = pack.entry(key)
        tried = tuple(describe(a) for a in entry.alternatives)
        params = _params(env, key, order_id)
        if params is None:
            report.locators.append(LocatorReport(key, entry.required, None, None, tried,
                                                 note="needs a parameter from a flow; not checked"))
            continue
        root: Root = portal.page
        if entry.within is not None:
            parent_params = _params(env, entry.within, order_id) or {}
            parent = await pack.probe(portal.page, entry.within, **parent_params)
            if parent is None:
                report.locators.append(LocatorReport(key, entry.required, None, None, tried,
                                                     note=f"inside {entry.within}, which is absent"
                                                     if not pack.entry(entry.within).required else ""))
                continue
            root = pack.alternatives(portal.page, entry.within)[parent].first
        with playwright_errors(f"probing {key}"):
            index = await pack.probe(root, key, **params)
            if index is None and entry.required and not entry.after:
                try:
                    await pack.resolve(root, key, timeout_ms=SECOND_CHANCE_MS, **params)
                    index = await pack.probe(root, key, **params)
                except LocatorMissingError:
                    index = None
        note = f"shown after {entry.after} is clicked; not checked" if index is None and entry.after else ""
        report.locators.append(LocatorReport(
            key, entry.required, index, tried[index] if index is not None else None, tried, note=note))
    return report


async def check_selectors(page: Page, env: FlowEnv, creds: Credentials, *, order_id: str | None = None,
                          refund_order_id: str | None = None,
                          code_source: CodeSource | None = None) -> CheckReport:
    """Visit the portal's pages for `creds` and check every locator (see the module docstring).
    `order_id` picks the detail page (default: the first order of the list); `refund_order_id`
    an order whose first item line offers a return/refund form."""
    pack = env.pack
    visited: dict[str, PageReport] = {}
    portal = PortalPage(page, env)

    async def visit(name: str, action: Awaitable[None]) -> None:
        try:
            await action
        except RecoupError as exc:
            report = visited.setdefault(name, PageReport(name, url=page.url, visited=True))
            report.error = f"{type(exc).__name__}: {exc}"

    async def login_page() -> None:
        await portal.goto(pack.url("login"), "check-login", login_ok=True)
        visited["login"] = await check_page(portal, "login")
        await log_in(page, env, creds, code_source=code_source)

    await visit("login", login_page())
    listing = env.page_object(OrderListPage, page)
    chosen: dict[str, str | None] = {"order": order_id}

    async def list_page() -> None:
        await listing.open()
        if chosen["order"] is None and await listing.cards().count() > 0:
            chosen["order"] = await listing.card_order_id(listing.cards().first)
        visited["order_list"] = await check_page(listing, "order_list", order_id=chosen["order"])
        visited["common"] = await check_page(listing, "common")

    if "error" not in _state(visited, "login"):
        await visit("order_list", list_page())
    detail = env.page_object(OrderDetailPage, page)

    async def detail_page() -> None:
        assert chosen["order"] is not None
        await detail.open(chosen["order"])
        visited["order_detail"] = await check_page(detail, "order_detail", order_id=chosen["order"])

    if chosen["order"] and "error" not in _state(visited, "order_list"):
        await visit("order_detail", detail_page())

    async def refund_list_page() -> None:
        requests = env.page_object(RefundListPage, page)
        await requests.open()
        visited["refund_list"] = await check_page(requests, "refund_list",
                                                  order_id=refund_order_id or chosen["order"])

    if "error" not in _state(visited, "login"):
        await visit("refund_list", refund_list_page())

    async def refund_page() -> None:
        assert refund_order_id is not None
        await detail.open(refund_order_id)
        tab = await detail.open_refund_tab(await detail.item(0))
        try:
            form = PortalPage(tab, env)
            await form.settle("check-refund-form")
            await form.find("refund_reason_select", timeout_ms=env.navigation_ms)
            visited["refund_form"] = await check_page(form, "refund_form", order_id=refund_order_id)
        finally:
            with playwright_errors("closing the refund tab"):
                await tab.close()

    if refund_order_id and "error" not in _state(visited, "order_list"):
        await visit("refund_form", refund_page())
    pages = [visited.get(name, PageReport(name)) for name in pack.model.pages]
    return CheckReport(pack.model.portal, str(pack.path), pages)


def _state(visited: dict[str, PageReport], name: str) -> str:
    report = visited.get(name)
    return "error" if report is not None and report.error else "ok"


def render_report(report: CheckReport) -> str:
    """The report as plain text (no colours, no Rich), one line per locator."""
    missing = report.missing
    head = f"Selector check of {report.portal} ({report.pack_path}): "
    head += (f"FAILED, {len(missing)} required locator(s) found nothing" if missing else
             "FAILED, a page could not be opened" if report.failed else "OK")
    lines = [head]
    for page in report.pages:
        lines.extend(render_page(page))
    return "\n".join(lines)


def render_page(page: PageReport) -> list[str]:
    """One page of a report as plain text lines: a heading, then one line per locator (which
    alternative hit, a fallback marked as such, or what was tried when it missed)."""
    if not page.visited:
        return [f"[{page.page}] not visited"]
    lines = [f"[{page.page}] {page.url or ''}".rstrip()]
    if page.error:
        lines.append(f"  ERROR {page.error}")
    for loc in page.locators:
        flag = "required" if loc.required else "optional"
        if loc.index is not None:
            via = "" if loc.index == 0 else f" (fallback #{loc.index})"
            lines.append(f"  ok    {loc.key:<30} alt {loc.index}{via}: {loc.alternative}")
        elif loc.note:
            lines.append(f"  --    {loc.key:<30} {flag}, {loc.note}")
        elif loc.required:
            lines.append(f"  MISS  {loc.key:<30} required; tried: " + "; ".join(loc.tried))
        else:
            lines.append(f"  --    {loc.key:<30} optional, absent")
    return lines
