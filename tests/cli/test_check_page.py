"""`recoup selectors check --page FILE --as KIND`: the pack checked against saved copies of sandbox
pages (saved after a real sign-in, the way an operator saves a page from the portal), served from
loopback with every outside request blocked.

Every locator hits on a faithful copy and the cards read right against the sandbox's data; a pack
whose locator matches nothing, or a copy with an element removed, reports the miss and exits 3; a
locator found only through a fallback is reported as such; hostile files are refused (exit 2) and
a page's calls to the outside are blocked and counted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.async_api import async_playwright

from bot.config import CHROMIUM_ARGS
from bot.mail.codes import ImapCodeSource
from flows.check_page import MAX_PAGE_BYTES, PAGE_PATH, read_saved_page, serve_saved_page
from flows.env import FlowEnv
from flows.login import Credentials, log_in
from flows.pack import load_pack
from flows.pages.order_detail import OrderDetailPage
from flows.pages.order_list import OrderListPage
from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.cli.conftest import Cli
from tests.fixtures.service import REPO
from tests.flows.conftest import make_settings

PACK = REPO / "selectors" / "aliexpress.yaml"
ANN = "ann@buyer.test"
DETAIL_ORDER = "3042417938137300"


@dataclass(frozen=True)
class Saved:
    """Saved copies of ann's pages (HTML as the browser had it after sign-in)."""

    orders: str
    detail: str
    refund: str
    css: bytes


async def _save_pages(sb: RunningSandbox, mail: MailServer, data: Path, *, refund: bool = True) -> Saved:
    settings = make_settings(sb, mail, data)
    env = FlowEnv(load_pack(settings), settings)
    acc = next(a for a in sb.scenario.accounts if a.email == ANN)
    creds = Credentials(email=acc.email, password=acc.password, totp_secret=acc.totp_secret,
                        mailbox_user=acc.email, mailbox_password=acc.mailbox_password)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=list(CHROMIUM_ARGS),
                                           headless=True)
        try:
            context = await browser.new_context(locale="en-US", timezone_id="UTC")
            page = await context.new_page()
            await log_in(page, env, creds, code_source=ImapCodeSource(settings, poll_interval_s=0.3))
            listing = OrderListPage(page, env)
            await listing.open()
            orders = await page.content()
            detail = OrderDetailPage(page, env)
            await detail.open(DETAIL_ORDER)
            detail_html = await page.content()
            refund_html = ""
            if refund:
                tab = await detail.open_refund_tab(await detail.item(0))
                await env.pack.resolve(tab, "refund_reason_select", timeout_ms=env.navigation_ms)
                refund_html = await tab.content()
        finally:
            await browser.close()
    async with httpx.AsyncClient(timeout=10) as client:
        css = (await client.get(sb.url + "/_sbx/portal.css")).content
    return Saved(orders, detail_html, refund_html, css)


@pytest.fixture(scope="module")
def saved(
    sandbox: RunningSandbox, mail_server: MailServer, tmp_path_factory: pytest.TempPathFactory
) -> Saved:
    """ann's My Orders, an order's detail page and its return/refund form, saved once."""
    sandbox.admin.reset()
    data = tmp_path_factory.mktemp("saver")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own event loop, whatever runs here
        return pool.submit(asyncio.run, _save_pages(sandbox, mail_server, data)).result(timeout=300)


@pytest.fixture(scope="module")
def saved_b(
    sandbox_b: RunningSandbox, mail_server: MailServer, tmp_path_factory: pytest.TempPathFactory
) -> Saved:
    """ann's My Orders and an order's detail page in layout B (other markup), saved once."""
    sandbox_b.admin.reset()
    data = tmp_path_factory.mktemp("saver-b")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _save_pages(sandbox_b, mail_server, data, refund=False)).result(
            timeout=300)


def _write(folder: Path, name: str, html: str, css: bytes | None = None) -> Path:
    """Write a copy like a browser's "save page, complete": the stylesheet into `<name>_files/`."""
    path = folder / f"{name}.html"
    if css is not None:
        files = folder / f"{name}_files"
        files.mkdir(exist_ok=True)
        (files / "portal.css").write_bytes(css)
        html = html.replace('href="/_sbx/portal.css"', f'href="{name}_files/portal.css"')
    path.write_text(html, encoding="utf-8")
    return path


def _pack_variant(cli: Cli, tmp_path: Path, page: str, key: str, alternatives: list[dict[str, Any]]) -> None:
    data: dict[str, Any] = yaml.safe_load(PACK.read_text(encoding="utf-8"))
    data["pages"][page]["locators"][key]["alternatives"] = alternatives
    packs = tmp_path / "packs"
    packs.mkdir(exist_ok=True)
    (packs / "variant.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cli.monkeypatch.setenv("RECOUP_PACK_DIR", str(packs))
    cli.monkeypatch.setenv("RECOUP_PORTAL", "variant")


def _digits(text: str | None) -> str:
    return re.sub(r"\D", "", text or "")


def test_saved_order_list_every_locator_hits_and_cards_read_right(cli: Cli, saved: Saved) -> None:
    page = _write(cli.tmp, "My Orders", saved.orders, saved.css)
    doc = cli.json("selectors", "check", "--page", str(page), "--as", "order_list")
    assert doc["failed"] is False and doc["missing"] == [] and doc["error"] is None, doc
    outcomes = {loc["key"]: loc["outcome"] for loc in doc["locators"]}
    for key in ("orders_root", "order_card", "order_card_with_id", "card_status", "card_info",
                "card_store", "card_total", "card_details_link"):
        assert outcomes[key] == "hit", (key, outcomes)
    assert doc["blocked_requests"] == 0, doc["blocked_hosts"]  # the sandbox page calls nobody outside
    assert doc["url"].startswith("http://127.0.0.1:")

    cards = doc["read"]["cards"]
    assert doc["read_error"] is None and len(cards) == doc["read"]["card_count"] >= 10
    orders = cli.sb.portal.state.orders
    newest = sorted((o for o in orders.values() if o.account == ANN), key=lambda o: o.placed_at,
                    reverse=True)
    assert {c["order_id"] for c in cards} == {o.id for o in newest[: len(cards)]}  # the list's first batch
    assert DETAIL_ORDER in {c["order_id"] for c in cards}
    for card in cards:
        truth = orders[card["order_id"]]
        assert truth.account == ANN
        assert card["status"] == truth.status, card
        # the sandbox's store link is followed by a "›" arrow that the list reader keeps today
        # (flows/pages/order_list.py, being reworked in parallel); the name itself must be right
        assert card["store"].removesuffix("›").strip() == truth.store, card
        assert _digits(f"{truth.total:.2f}") in _digits(card["total_text"]), card

    text = cli("selectors", "check", "--page", str(page), "--as", "order_list").stdout
    assert text.startswith("Selector check of aliexpress") and "as order_list: OK" in text.splitlines()[0]
    assert "blocked 0 outside requests" in text
    assert "ok    card_status" in text and "MISS" not in text
    assert "3042417938137300  awaiting_delivery \"Awaiting delivery\"  store: Baseus Global Store" in text


def test_saved_detail_and_refund_form_read_right(cli: Cli, saved: Saved) -> None:
    detail = cli.json("selectors", "check", "--page", str(_write(cli.tmp, "detail", saved.detail)),
                      "--as", "order_detail")
    assert detail["failed"] is False, detail
    assert detail["read"] == {"order_id": DETAIL_ORDER, "status": "awaiting_delivery",
                              "status_text": "Awaiting delivery"}
    outcomes = {loc["key"]: loc["outcome"] for loc in detail["locators"]}
    assert outcomes["detail_status"] == "hit" and outcomes["detail_item"] == "hit"

    form = cli.json("selectors", "check", "--page", str(_write(cli.tmp, "refund", saved.refund)),
                    "--as", "refund_form")
    assert form["failed"] is False, form
    assert form["read"]["state"] == "form"
    assert {"refund_reason_select", "refund_description", "refund_file_input", "refund_next"} <= set(
        form["read"]["fields"])
    notes = {loc["key"]: loc["outcome"] for loc in form["locators"]}
    assert notes["refund_submit"] == "not_checked" and notes["refund_status_line"] == "absent"


def test_a_locator_that_matches_nothing_is_a_miss_and_exits_3(cli: Cli, saved: Saved, tmp_path: Path) -> None:
    page = _write(cli.tmp, "orders", saved.orders)
    _pack_variant(cli, tmp_path, "order_list", "card_status", [{"kind": "css", "css": ".no-such-status"}])
    doc = cli.json("selectors", "check", "--page", str(page), "--as", "order_list", code=3)
    assert doc["failed"] is True and doc["missing"] == ["card_status"]
    status = next(loc for loc in doc["locators"] if loc["key"] == "card_status")
    assert status["outcome"] == "miss" and status["tried"] == ["css(css='.no-such-status')"]
    assert doc["read"]["cards"] == [] and "card 1 of" in doc["read_error"]  # the reader says why

    text = cli("selectors", "check", "--page", str(page), "--as", "order_list", code=3).stdout
    assert "FAILED, 1 required locator(s) found nothing" in text.splitlines()[0]
    assert re.search(r"MISS\s+card_status\s+required; tried: css\(css='\.no-such-status'\)", text)


def test_an_element_removed_from_the_saved_page_is_a_miss(cli: Cli, saved: Saved) -> None:
    html, count = re.subn(r"<div[^>]*data-pl=\"order_detail_status\"[^>]*>.*?</div>", "", saved.detail,
                          flags=re.DOTALL)
    assert count == 1
    page = _write(cli.tmp, "detail-changed", html)
    doc = cli.json("selectors", "check", "--page", str(page), "--as", "order_detail", code=3)
    assert doc["missing"] == ["detail_status"]
    assert doc["read"]["order_id"] == DETAIL_ORDER and "detail_status" in doc["read_error"]


def test_a_hit_only_through_a_fallback_is_reported_as_such(cli: Cli, saved: Saved, tmp_path: Path) -> None:
    page = _write(cli.tmp, "orders", saved.orders)
    _pack_variant(cli, tmp_path, "order_list", "card_status", [
        {"kind": "css", "css": ".no-such-status"},
        {"kind": "test_id", "value": "order_item_header_status"}])
    doc = cli.json("selectors", "check", "--page", str(page), "--as", "order_list")
    status = next(loc for loc in doc["locators"] if loc["key"] == "card_status")
    assert doc["failed"] is False and status["outcome"] == "fallback" and status["index"] == 1
    assert doc["read"]["cards"] and doc["read_error"] is None  # the flows read through the fallback too
    text = cli("selectors", "check", "--page", str(page), "--as", "order_list").stdout
    assert re.search(r"ok\s+card_status\s+alt 1 \(fallback #1\)", text)


def test_layout_b_copy_reads_right_and_reports_real_fallbacks(
        cli: Cli, saved_b: Saved, sandbox_b: RunningSandbox) -> None:
    doc = cli.json("selectors", "check", "--page", str(_write(cli.tmp, "orders-b", saved_b.orders)),
                   "--as", "order_list")
    assert doc["failed"] is False and doc["read_error"] is None, doc
    orders = sandbox_b.portal.state.orders
    assert len(doc["read"]["cards"]) >= 10
    for card in doc["read"]["cards"]:
        truth = orders[card["order_id"]]
        assert (card["status"], card["store"].removesuffix("›").strip()) == (truth.status, truth.store)
        assert _digits(f"{truth.total:.2f}") in _digits(card["total_text"]), card

    page = _write(cli.tmp, "detail-b", saved_b.detail)
    detail = cli.json("selectors", "check", "--page", str(page), "--as", "order_detail")
    rows = next(loc for loc in detail["locators"] if loc["key"] == "detail_info_row")
    assert detail["failed"] is False and rows["outcome"] == "fallback" and rows["index"] == 1
    assert detail["read"]["order_id"] == DETAIL_ORDER  # read through the fallback
    text = cli("selectors", "check", "--page", str(page), "--as", "order_detail").stdout
    assert re.search(r"ok\s+detail_info_row\s+alt 1 \(fallback #1\)", text)


HOSTILE = """
<img src="https://ae01.alicdn.com/kf/pixel.gif">
<script>
fetch("https://acs.aliexpress.com/h5/mtop.order.list/?token=abc").catch(() => {});
new Image().src = "http://198.51.100.7/beacon.gif";
try { new WebSocket("wss://ws.example.com/live"); } catch (e) {}
</script>
</body>"""


def test_outside_requests_are_blocked_and_counted_and_page_text_is_shown_literally(
        cli: Cli, saved: Saved) -> None:
    html = saved.orders.replace("</body>", HOSTILE, 1)
    html = html.replace(">Baseus Global Store<", ">[bold red]Baseus[/] Global Store<", 1)
    page = _write(cli.tmp, "hostile", html)
    doc = cli.json("selectors", "check", "--page", str(page), "--as", "order_list")
    assert doc["failed"] is False
    assert doc["blocked_requests"] >= 4, doc
    assert {"ae01.alicdn.com", "acs.aliexpress.com", "198.51.100.7", "ws.example.com"} <= set(
        doc["blocked_hosts"])
    assert not any("token" in h for h in doc["blocked_hosts"])  # hosts only, never a query
    text = cli("selectors", "check", "--page", str(page), "--as", "order_list").stdout
    assert re.search(r"blocked [4-9]\d* outside requests \(", text)
    assert "store: [bold red]Baseus[/] Global Store" in text  # markup in a page is shown as written
    quiet = cli.json("selectors", "check", "--page", str(page), "--as", "order_list", "--no-scripts")
    assert quiet["failed"] is False and quiet["scripts"] is False
    assert quiet["blocked_hosts"] == ["ae01.alicdn.com"]  # the image alone: no script ran


@pytest.mark.parametrize("kind", ["missing", "folder", "binary", "not-html", "empty", "huge"])
def test_hostile_files_exit_2(cli: Cli, kind: str) -> None:
    path = cli.tmp / f"{kind}.html"
    if kind == "folder":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"<html>")
    elif kind == "not-html":
        path.write_text("just a note, no markup at all\n" * 10, encoding="utf-8")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge":
        with path.open("wb") as handle:
            handle.write(b"<html><body>")
            handle.truncate(MAX_PAGE_BYTES + 1)
    doc = cli.json("selectors", "check", "--page", str(path), "--as", "order_list", code=2)
    assert doc["error"] == "InputError" and str(path) in doc["message"]
    assert {"missing": "no such file", "folder": "is a folder", "binary": "binary", "not-html": "HTML",
            "empty": "empty", "huge": "at most 20 MB"}[kind] in doc["message"]


def test_page_options_go_together(cli: Cli, saved: Saved) -> None:
    page = _write(cli.tmp, "orders", saved.orders)
    assert "go together" in cli.json("selectors", "check", "--page", str(page), code=2)["message"]
    bad = cli.json("selectors", "check", "--page", str(page), "--as", "checkout", code=2)
    assert "order_list" in bad["message"]
    both = cli.json("selectors", "check", "--page", str(page), "--as", "order_list", "--account", "ann",
                    code=2)
    assert "--account" in both["message"]


def test_the_loopback_server_serves_the_page_and_its_files_only(tmp_path: Path) -> None:
    page = tmp_path / "saved.html"
    page.write_text("<html><body>hi</body></html>", encoding="utf-8")
    files = tmp_path / "saved_files"
    files.mkdir()
    (files / "a b.css").write_text("body{}", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")
    (files / "link.txt").symlink_to(tmp_path / "secret.txt")
    with serve_saved_page(page, read_saved_page(page)) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith(PAGE_PATH)
        origin = url[: -len(PAGE_PATH)]
        assert httpx.get(url).text == "<html><body>hi</body></html>"
        css = httpx.get(origin + "/saved_files/a%20b.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        for escape in ("/saved.html", "/secret.txt", "/saved_files/../secret.txt",
                       "/saved_files/%2e%2e/secret.txt", "/saved_files/link.txt", "/saved_files/"):
            assert httpx.get(origin + escape).status_code == 404, escape
