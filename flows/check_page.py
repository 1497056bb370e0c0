"""`selectors check --page`: check the pack against a page an operator saved from the portal.

The saved HTML file (and the `<name>_files` folder a browser saves beside it, if present) is
served by a tiny HTTP server bound to 127.0.0.1 on a free port, which serves nothing else. The
page is opened in a context of its own (no account's session, service workers blocked) whose
every request that is not to that server is aborted and counted, so a saved page never calls
out to the portal or anywhere else. Then every locator of the chosen page kind is probed
(:func:`flows.check.check_page`: hit, hit only through fallback N, miss) and the page is read
with the flows' own page objects: every card of an order list, the status and id of an order
detail page, the fields of a return/refund form.

Promises and failures:
- a missing file, a folder, an empty, binary, non-HTML or oversized (> :data:`MAX_PAGE_BYTES`)
  file raises :class:`bot.errors.InputError` before a browser starts;
- :attr:`PageCheck.failed` is True when a required locator found nothing (the CLI exits 3);
- a page that does not load raises PortalUnavailableError.
Nothing is clicked or typed on the page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import mimetypes
import re
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import unquote, urlsplit

from playwright.async_api import BrowserContext, Page, Route, WebSocketRoute
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bot.browser import BrowserManager
from bot.config import Settings
from bot.errors import InputError, RecoupError
from bot.errors_playwright import playwright_errors
from flows.check import PageReport, check_page, render_page
from flows.env import FlowEnv
from flows.pages.order_detail import OrderDetailPage
from flows.pages.order_list import OrderListPage
from flows.pages.refund_form import FormState, RefundFormPage
from flows.registry import PackRegistry

PageKind = Literal["order_list", "order_detail", "refund_form"]
PAGE_KINDS: tuple[str, ...] = get_args(PageKind)
"""The pack pages a saved page can be checked as."""

MAX_PAGE_BYTES = 20 * 1024 * 1024
"""Largest saved page (and largest file of its `_files` folder) that is served."""

READ_TIMEOUT_MS = 1_500
"""How long reading a saved page waits for one element (the page is static: it is there or not)."""

QUIET_MS = 3_000
"""Longest wait for a saved page's scripts to stop making requests before the check starts."""

PAGE_PATH = "/saved-page.html"
"""Where the loopback server serves the page (a neutral path: never mistaken for a login page)."""

_HTML_TAG = re.compile(rb"<(?:!doctype\s+html|html|head|body|div|main|section|table)[\s>/]", re.IGNORECASE)
_SNIFF_BYTES = 1024 * 1024
_MAX_HOSTS = 20


def read_saved_page(path: Path) -> bytes:
    """The bytes of the saved page at `path`. Raises InputError when it is missing, not a
    regular file (a folder, a device), empty, larger than MAX_PAGE_BYTES, binary (NUL bytes)
    or shows no HTML tag in its first megabyte."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (give the .html file you saved from the portal)",
                         path=str(path)) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the saved page ({exc.strerror})", path=str(path)) from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path} is a folder; give the .html file you saved from the portal", path=str(path))
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path} is not a regular file", path=str(path))
    if info.st_size == 0:
        raise InputError(f"{path} is empty", path=str(path))
    if info.st_size > MAX_PAGE_BYTES:
        raise InputError(f"{path} is {info.st_size / 1024 / 1024:.1f} MB; a saved page may be at most "
                         f"{MAX_PAGE_BYTES // 1024 // 1024} MB", path=str(path))
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PAGE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the saved page ({exc.strerror})", path=str(path)) from exc
    if len(data) > MAX_PAGE_BYTES:
        raise InputError(f"{path} grew beyond {MAX_PAGE_BYTES // 1024 // 1024} MB while being read",
                         path=str(path))
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        raise InputError(f"{path} is a binary file, not an HTML page", path=str(path))
    if not _HTML_TAG.search(head):
        raise InputError(f"{path} does not look like an HTML page (no <html>, <body> or <div> tag)",
                         path=str(path))
    return data


# ---- the loopback server -------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    """Serves PAGE_PATH and the files under `/<stem>_files/`; everything else is a 404."""

    server: _SavedPageServer

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        found = self.server.lookup(urlsplit(self.path).path)
        if found is None:
            self.send_error(404)
            return
        data, kind = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a saved page's requests are not worth a log line each."""


class _SavedPageServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, page: bytes, files_dir: Path | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.page = page
        self.files_dir = files_dir.resolve() if files_dir is not None else None
        self.files_prefix = f"/{files_dir.name}/" if files_dir is not None else None

    def lookup(self, raw_path: str) -> tuple[bytes, str] | None:
        """(bytes, content type) of a served path, or None (not the page, not a file of the
        `_files` folder, escaping it, or too large)."""
        path = unquote(raw_path)
        if path == PAGE_PATH:
            return self.page, "text/html"
        if self.files_dir is None or self.files_prefix is None or not path.startswith(self.files_prefix):
            return None
        try:
            target = (self.files_dir / path[len(self.files_prefix):]).resolve()
            if not target.is_relative_to(self.files_dir) or not target.is_file():
                return None
            if target.stat().st_size > MAX_PAGE_BYTES:
                return None
            data = target.read_bytes()
        except (OSError, ValueError):
            return None
        return data, mimetypes.guess_type(target.name)[0] or "application/octet-stream"


@contextmanager
def serve_saved_page(path: Path, page: bytes) -> Iterator[str]:
    """Serve `page` (read from `path`) and `path`'s `_files` folder on 127.0.0.1 (a free port)
    while the block runs; yields the page's URL. Raises InputError when no port can be bound."""
    folder = path.with_name(f"{path.stem}_files")
    try:
        server = _SavedPageServer(page, folder if folder.is_dir() else None)
    except OSError as exc:
        raise InputError(f"cannot serve the saved page on 127.0.0.1: {exc.strerror}") from exc
    thread = threading.Thread(target=server.serve_forever, name="saved-page-server", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}{PAGE_PATH}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---- blocking every other request ----------------------------------------------------------------
@dataclass
class Blocked:
    """Requests the page tried to make outside the loopback server (aborted)."""

    count: int = 0
    hosts: list[str] = field(default_factory=list)

    def add(self, url: str) -> None:
        self.count += 1
        host = urlsplit(url).hostname or url.split(":", 1)[0]
        if host not in self.hosts and len(self.hosts) < _MAX_HOSTS:
            self.hosts.append(host)


async def fence(context: BrowserContext, origin: str, blocked: Blocked) -> None:
    """Abort (and count in `blocked`) every request and WebSocket of `context` that does not go
    to `origin` (scheme://host:port of the loopback server)."""
    prefix = origin.rstrip("/") + "/"

    async def gate(route: Route) -> None:
        url = route.request.url
        if url.startswith(prefix):
            await route.continue_()
        else:
            blocked.add(url)
            await route.abort("blockedbyclient")

    async def socket(ws: WebSocketRoute) -> None:
        blocked.add(ws.url)
        await ws.close()

    with playwright_errors("fencing the saved page"):
        await context.route("**/*", gate)
        await context.route_web_socket(re.compile(".*"), socket)


# ---- the check -----------------------------------------------------------------------------------
@dataclass
class PageCheck:
    """The result of checking one saved page as one page kind of the pack."""

    file: str
    kind: str
    portal: str
    pack_path: str
    url: str
    scripts: bool
    report: PageReport
    blocked: Blocked
    read: dict[str, Any] = field(default_factory=dict)
    read_error: str | None = None

    @property
    def missing(self) -> list[str]:
        """Keys of the required locators that found nothing."""
        return [loc.key for loc in self.report.locators if loc.missing_required]

    @property
    def failed(self) -> bool:
        """True when a required locator found nothing (or the page could not be probed)."""
        return bool(self.missing) or self.report.error is not None

    def as_dict(self) -> dict[str, Any]:
        """One JSON-ready document: the locators with their outcome, what was read, the blocked
        requests (hosts only) and `failed`."""
        return {
            "file": self.file,
            "as": self.kind,
            "portal": self.portal,
            "pack": self.pack_path,
            "url": self.url,
            "scripts": self.scripts,
            "failed": self.failed,
            "missing": self.missing,
            "error": self.report.error,
            "locators": [{**dataclasses.asdict(loc), "outcome": loc.outcome} for loc in self.report.locators],
            "read": self.read,
            "read_error": self.read_error,
            "blocked_requests": self.blocked.count,
            "blocked_hosts": self.blocked.hosts,
        }


def reading_settings(settings: Settings) -> Settings:
    """`settings` with short waits: a saved page does not load anything later."""
    return settings.model_copy(update={"action_timeout_ms": min(settings.action_timeout_ms, READ_TIMEOUT_MS),
                                       "navigation_retries": 0})


async def check_saved_page(browser: BrowserManager, settings: Settings, path: Path, kind: str, *,
                           scripts: bool = True) -> PageCheck:
    """Serve the saved page at `path` from loopback, open it (its scripts run when `scripts`,
    every outside request blocked) and check and read it as pack page `kind` (see the module
    docstring). Raises InputError for a bad file or kind, PackError for a bad pack,
    PortalUnavailableError when the page does not load."""
    if kind not in PAGE_KINDS:
        raise InputError(f"cannot check a page as {kind!r}; choose one of {', '.join(PAGE_KINDS)}")
    data = read_saved_page(path)
    quick = reading_settings(settings)
    env = PackRegistry(quick).env(quick.portal, shots_dir=settings.data_dir / "screenshots")
    with serve_saved_page(path, data) as url:
        blocked = Blocked()
        options: dict[str, Any] = {"service_workers": "block", "accept_downloads": False,
                                   "java_script_enabled": scripts}
        async with browser.scratch_context(**options) as context:
            parts = urlsplit(url)
            await fence(context, f"{parts.scheme}://{parts.netloc}", blocked)
            with playwright_errors("opening the saved page"):
                page = await context.new_page()
                await page.goto(url, wait_until="load", timeout=env.navigation_ms)
            await _quiet(page)
            result = PageCheck(str(path), kind, env.pack.model.portal, str(env.pack.path), url, scripts,
                               PageReport(kind, url=url, visited=True), blocked)
            await _check_and_read(page, env, result)
    return result


async def _quiet(page: Page) -> None:
    """Give the page's own scripts up to QUIET_MS to make (and have blocked) their requests,
    so the count of blocked requests is complete; a page that never goes quiet is checked anyway."""
    with contextlib.suppress(PlaywrightTimeoutError, PlaywrightError):
        await page.wait_for_load_state("networkidle", timeout=QUIET_MS)


async def _check_and_read(page: Page, env: FlowEnv, result: PageCheck) -> None:
    """Probe the locators of `result.kind` into `result.report` (a failure there is the
    report's error), then read the page into `result.read` (a failure there is `read_error`)."""
    listing = env.page_object(OrderListPage, page)
    detail = env.page_object(OrderDetailPage, page)
    form = env.page_object(RefundFormPage, page)
    try:
        if result.kind == "order_list":
            report = await check_page(listing, "order_list", order_id=await _first_card_id(listing))
        elif result.kind == "order_detail":
            report = await check_page(detail, "order_detail")
        else:
            report = await check_page(form, "refund_form")
    except RecoupError as exc:
        result.report.error = f"{type(exc).__name__}: {exc}"
        return
    report.url = result.url
    result.report = report
    try:
        if result.kind == "order_list":
            await _read_cards(listing, result)
        elif result.kind == "order_detail":
            result.read = {"order_id": await detail.order_id()}
            status, text = await detail.status()
            result.read.update(status=status.value, status_text=text)
        else:
            await _read_form(form, result)
    except RecoupError as exc:
        result.read_error = f"{type(exc).__name__}: {exc}"


async def _first_card_id(listing: OrderListPage) -> str | None:
    try:
        cards = listing.cards()
        if await cards.count() == 0:
            return None
        return await listing.card_order_id(cards.first)
    except RecoupError:
        return None


async def _read_cards(listing: OrderListPage, result: PageCheck) -> None:
    """Every card through the list's own reader; stops at the first card it cannot read."""
    with playwright_errors("listing order cards"):
        cards = await listing.cards().all()
    read: list[dict[str, Any]] = []
    result.read = {"cards": read, "card_count": len(cards)}
    for index, card in enumerate(cards):
        try:
            found = await listing.read_card(card)
        except RecoupError as exc:
            result.read_error = (f"card {index + 1} of {len(cards)} could not be read "
                                 f"({type(exc).__name__}: {exc}); {len(cards) - index - 1} more not read")
            break
        read.append({**dataclasses.asdict(found), "status": found.status.value})


async def _read_form(form: RefundFormPage, result: PageCheck) -> None:
    """Which state the form tab shows, and which of its locators were found."""
    fields = [loc.key for loc in result.report.locators if loc.index is not None]
    result.read = {"state": None, "fields": fields}
    extra: dict[str, Any]
    if await form.has("refund_status_line"):
        status, text = await form.request_status()
        state, extra = FormState.REQUEST, {"request_status": status.value, "request_status_text": text}
    elif await form.has("refund_reason_select"):
        state, extra = FormState.FORM, {}
    elif await form.has("page_alert"):
        state, extra = FormState.NOT_ELIGIBLE, {"alert": await form.alert_text()}
    else:
        return
    result.read.update(state=state.value, **extra)


# ---- text for a person ---------------------------------------------------------------------------
def _flat(value: object) -> str:
    """Page text on one line (newlines and runs of spaces folded; other characters kept, so
    the display layer shows control characters as escapes)."""
    return " ".join(str(value).split()) if value is not None else "-"


def render_page_check(result: PageCheck) -> str:
    """The result as plain text: verdict, serving and blocking, one line per locator, then what
    was read. Page text is included as is; print it through :mod:`bot.display`."""
    missing = result.missing
    head = (f"Selector check of {result.portal} ({result.pack_path}) on saved page {result.file} "
            f"as {result.kind}: ")
    head += (f"FAILED, {len(missing)} required locator(s) found nothing" if missing else
             "FAILED, the page could not be probed" if result.failed else "OK")
    hosts = f" ({', '.join(result.blocked.hosts)})" if result.blocked.hosts else ""
    lines = [head,
             f"Served from {result.url} (scripts {'on' if result.scripts else 'off'}); "
             f"blocked {result.blocked.count} outside requests{hosts}"]
    lines.extend(render_page(result.report))
    lines.extend(_render_read(result))
    return "\n".join(lines)


def _render_read(result: PageCheck) -> list[str]:
    read, lines = result.read, []
    if result.kind == "order_list" and read:
        cards = read.get("cards", [])
        lines.append(f"Read {len(cards)} of {read.get('card_count', 0)} order card(s):")
        for card in cards:
            lines.append(f"  {_flat(card['order_id'] or '(no id)')}  {card['status']} "
                         f"\"{_flat(card['status_text'])}\"  store: {_flat(card['store'])}  "
                         f"total: {_flat(card['total_text'])}")
    elif result.kind == "order_detail" and read:
        lines.append(f"Read: order {_flat(read.get('order_id') or '(no id)')}, status {read['status']} "
                     f"\"{_flat(read['status_text'])}\"")
    elif result.kind == "refund_form" and read:
        lines.append(f"Read: {read.get('state') or 'neither a form nor a request'}; fields found: "
                     + (", ".join(read.get("fields", [])) or "none"))
        if "request_status" in read:
            text = _flat(read["request_status_text"])
            lines.append(f"  request status {read['request_status']} \"{text}\"")
        if read.get("alert"):
            lines.append(f"  alert: {_flat(read['alert'])}")
    if result.read_error:
        lines.append(f"Reading stopped: {_flat(result.read_error)}")
    return lines
