"""Benchmark: the flows (page objects + selector pack + evidence) against a bare Playwright script.

One run starts its own sandbox portal (scenario `bench`, mail kept in the sandbox's log unless
`--mail` delivers it into a throwaway Dovecot) and one Debian Chromium. Two buyer accounts, one per
variant, each get N cancellations (awaiting_shipment → "Request order cancellation") and N
return/refund requests (awaiting_delivery, 3 small PNGs each):

- flows: `flows.login.log_in` once, then `flows.cancel.cancel_order` / `flows.refund.request_refund`
  per case, each case with its own EvidenceRecorder folder (screenshots, HTML, manifest);
- bare: the same clicks written by hand (page.goto / fill / click / set_input_files with fixed
  selectors inline), no checks beyond waiting for the confirmed status, no evidence.

Cases alternate between the variants (flows first on even rounds, bare first on odd ones) so both
see the same conditions. Logins are not timed. Afterwards the sandbox's admin API must show every
order submitted exactly once (and nothing else submitted), else the exit code is 1.

Prints median and p90 wall time per cancellation and per refund for each variant, the ratio
flows / bare, and the evidence bytes the flows wrote per case. Run from the repository root:

    .venv/bin/python -m benchmarks.flows [--n 10] [--layout a|b] [--json] [--mail]

Exit codes: 0 figures printed and verified; 1 verification failed; 2 a case failed; 3 Chromium or
Dovecot missing (or another set-up problem).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a file: `flows` must be the package, not us
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import json
import math
import os
import statistics
import struct
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from loguru import logger
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bot.config import CHROMIUM_ARGS, Settings
from bot.evidence import EvidenceRecorder
from flows.cancel import cancel_order
from flows.env import FlowEnv
from flows.login import Credentials, log_in
from flows.pack import Pack, load_pack
from flows.refund import RefundRequest, request_refund
from flows.results import nothing_to_record
from sandbox.mailserver import DOVECOT, MailServer, MailServerError
from sandbox.scenario import SCENARIO_DIR, Account
from sandbox.server import RunningSandbox, start_sandbox
from sandbox.settings import SandboxSettings

FLOWS_ACCOUNT = "flows@bench.test"
BARE_ACCOUNT = "bare@bench.test"
VARIANTS = ("flows", "bare")
KINDS = ("cancel", "refund")
EVIDENCE_FILES = 3
TIMEOUT_MS = 10_000
"""Bare script's default wait for one element or page (the flows use the settings' defaults)."""


class SetupError(RuntimeError):
    """Something the benchmark needs is missing (exit code 3)."""


# ---- set-up -------------------------------------------------------------------------------------
def check_prerequisites(browser_path: Path, need_dovecot: bool) -> None:
    """Raise SetupError naming what is missing: Chromium always, Dovecot only with --mail."""
    if not (browser_path.is_file() and os.access(browser_path, os.X_OK)):
        raise SetupError(f"Chromium not found at {browser_path}: install Debian's `chromium` package "
                         "(or set RECOUP_BROWSER_PATH); `playwright install` is never used")
    if need_dovecot and not Path(DOVECOT).is_file():
        raise SetupError(f"Dovecot not found at {DOVECOT}: install `dovecot-imapd dovecot-lmtpd`, "
                         "or run without --mail (mail then stays in the sandbox's log)")


def write_scenario(folder: Path, n: int) -> Path:
    """The `bench` scenario with every generate rule's count raised to at least `n`."""
    data = yaml.safe_load((SCENARIO_DIR / "bench.yaml").read_text(encoding="utf-8"))
    for account in data["accounts"]:
        for rule in account.get("generate") or []:
            rule["count"] = max(int(rule.get("count", 1)), n)
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def png_bytes(width: int, height: int) -> bytes:
    """A valid RGB PNG of a red square."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_evidence(folder: Path) -> list[Path]:
    """Three small PNGs in `folder`, the same files for every refund of both variants."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, size in enumerate((16, 24, 32), start=1):
        path = folder / f"photo{i}.png"
        path.write_bytes(png_bytes(size, size))
        files.append(path)
    return files


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (what the evidence recorder wrote for one case)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# ---- the flows variant --------------------------------------------------------------------------
@dataclass
class FlowsRunner:
    """Runs cases through the flows, one evidence folder per case."""

    page: Page
    pack: Pack
    settings: Settings
    evidence: list[Path]
    evidence_root: Path
    cases_dir: Path

    def _env(self, case: str) -> tuple[FlowEnv, Path]:
        folder = self.cases_dir / case
        return FlowEnv(self.pack, self.settings, evidence=EvidenceRecorder(folder)), folder

    async def cancel(self, order_id: str) -> int:
        env, folder = self._env(f"cancel-{order_id}")
        await cancel_order(self.page, env, order_id, reason="not_shipped_on_time",
                           comment="Benchmark cancellation", before_submit=nothing_to_record)
        return folder_bytes(folder)

    async def refund(self, order_id: str) -> int:
        env, folder = self._env(f"refund-{order_id}")
        req = RefundRequest(order_id=order_id, reason="not_received", description="Parcel never arrived.",
                            evidence=self.evidence, evidence_root=self.evidence_root)
        await request_refund(self.page, env, req, before_submit=nothing_to_record)
        return folder_bytes(folder)


# ---- the bare variant: hand-written clicks, fixed selectors, nothing else -----------------------
@dataclass
class BareRunner:
    """The same cases as a plain Playwright script would do them."""

    page: Page
    base: str
    evidence: list[Path]

    async def log_in(self, email: str, password: str, layout: str) -> None:
        page = self.page
        await page.goto(f"{self.base}/login/?return_url=/p/order/index.html")  # else: the locale home
        accept = page.get_by_role("button", name="Accept cookies")
        if await accept.is_visible():
            await accept.click()
        await page.fill("#fm-login-id", email)
        if layout == "b":
            await page.get_by_role("button", name="Continue").click()
        await page.fill("#fm-login-password", password)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/p/order/index.html**")

    async def cancel(self, order_id: str) -> int:
        page = self.page
        await page.goto(f"{self.base}/p/order/detail.html?orderId={order_id}")
        await page.get_by_role("button", name="Request order cancellation").click()
        await page.check("input[name=reason][value=not_shipped]")
        await page.fill("textarea[name=comment]", "Benchmark cancellation")
        await page.click("[data-cancel-submit]")
        await page.get_by_role("alertdialog").get_by_role("button", name="Confirm").click()
        await page.locator("[data-pl=order_detail_status]", has_text="Cancellation requested").wait_for()
        return 0

    async def refund(self, order_id: str) -> int:
        page = self.page
        await page.goto(f"{self.base}/p/order/detail.html?orderId={order_id}")
        async with page.expect_popup() as popup:
            await page.locator("[data-pl=order_detail_item]").first.get_by_role(
                "button", name="Returns/refunds").click()
        tab = await popup.value
        try:
            await tab.get_by_role("combobox", name="Select a reason").click()
            await tab.get_by_role("option", name="Item not received").click()
            await tab.fill("textarea[name=description]", "Parcel never arrived.")
            await tab.set_input_files("input[type=file]", self.evidence)
            await tab.locator('[class*="upload--imageThumb--"]').nth(len(self.evidence) - 1).wait_for()
            await tab.get_by_role("button", name="Next step").click()
            await tab.click('[data-pl="buyersubmit_btn_submit"]')
            await tab.get_by_role("dialog", name="Submit this request?").get_by_role(
                "button", name="Confirm").click()
            await tab.locator('[class*="reminder--statusStr--"]', has_text="Waiting for seller").wait_for()
        finally:
            await tab.close()
        return 0


# ---- running and checking -----------------------------------------------------------------------
@dataclass
class Results:
    """Wall times (seconds) and evidence bytes per variant and kind, in run order."""

    seconds: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {v: {k: [] for k in KINDS} for v in VARIANTS})
    evidence_bytes: dict[str, dict[str, list[int]]] = field(
        default_factory=lambda: {v: {k: [] for k in KINDS} for v in VARIANTS})


class CaseFailed(RuntimeError):
    """One case raised (exit code 2)."""


async def run_cases(runners: dict[str, Any], orders: dict[str, dict[str, list[str]]], n: int) -> Results:
    """Round i: cancellation i of both variants, then refund i of both; the first variant alternates."""
    results = Results()
    for i in range(n):
        order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
        for kind in KINDS:
            for variant in order:
                order_id = orders[variant][kind][i]
                action: Callable[[str], Awaitable[int]] = getattr(runners[variant], kind)
                start = time.perf_counter()
                try:
                    written = await action(order_id)
                except Exception as exc:
                    raise CaseFailed(f"{variant} {kind} of order {order_id} failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
                results.seconds[variant][kind].append(time.perf_counter() - start)
                results.evidence_bytes[variant][kind].append(written)
    return results


def verify(sb: RunningSandbox, orders: dict[str, dict[str, list[str]]]) -> list[str]:
    """Problems found by the admin API: each planned order submitted exactly once (accepted, no
    duplicate) with the status it should now have, refunds with all evidence; nothing else
    submitted; no order used by both variants."""
    problems: list[str] = []
    planned = {v: {o for k in KINDS for o in orders[v][k]} for v in VARIANTS}
    if planned["flows"] & planned["bare"]:
        problems.append("the variants share orders")
    subs: dict[str, Any] = sb.admin.submissions()
    state = sb.admin.state()["orders"]
    expected_status = {"cancel": "cancel_requested", "refund": "in_dispute"}
    for variant in VARIANTS:
        for kind in KINDS:
            for oid in orders[variant][kind]:
                summary = subs.get(oid, {})
                accepted = summary.get("by_kind", {}).get(kind, {}).get("accepted", 0)
                if summary.get("count") != 1 or accepted != 1:
                    problems.append(f"{variant} {kind} {oid}: count={summary.get('count', 0)}, "
                                    f"accepted={accepted}")
                if state[oid]["status"] != expected_status[kind]:
                    problems.append(f"{variant} {kind} {oid}: status {state[oid]['status']}")
                if kind == "refund":
                    shown = [len(r.get("evidence", [])) for r in state[oid].get("refunds", {}).values()]
                    if shown != [EVIDENCE_FILES]:
                        problems.append(f"{variant} refund {oid}: evidence per request {shown}")
    stray = {oid for oid, s in subs.items() if s.get("count")} - planned["flows"] - planned["bare"]
    problems.extend(f"order {oid} was submitted but not planned" for oid in sorted(stray))
    return problems


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def summarise(results: Results) -> dict[str, Any]:
    """Median / p90 per variant and kind, ratios flows / bare, evidence bytes per case."""
    out: dict[str, Any] = {}
    for kind in KINDS:
        row: dict[str, Any] = {}
        for variant in VARIANTS:
            runs = results.seconds[variant][kind]
            row[variant] = {"median_s": round(statistics.median(runs), 4), "p90_s": round(p90(runs), 4),
                            "runs_s": [round(r, 4) for r in runs]}
        row["ratio_median"] = round(row["flows"]["median_s"] / row["bare"]["median_s"], 3)
        row["ratio_p90"] = round(row["flows"]["p90_s"] / row["bare"]["p90_s"], 3)
        written = results.evidence_bytes["flows"][kind]
        row["evidence_bytes_per_case"] = {"flows_median": int(statistics.median(written)),
                                          "flows_max": max(written), "flows_total": sum(written),
                                          "bare": sum(results.evidence_bytes["bare"][kind])}
        out[kind] = row
    return out


def print_text(report: dict[str, Any]) -> None:
    print(f"flows vs bare Playwright: n={report['n']} per kind and variant, layout {report['layout']}, "
          f"Chromium {report['chromium']}, {report['mails']['sent']} mails "
          f"({'delivered to Dovecot' if report['mail'] else 'logged only'})")
    print(f"{'case':<8}{'variant':<8}{'median s':>10}{'p90 s':>10}{'evidence B/case':>17}")
    for kind in KINDS:
        row = report["cases"][kind]
        for variant in VARIANTS:
            ev = row["evidence_bytes_per_case"]["flows_median"] if variant == "flows" else 0
            print(f"{kind:<8}{variant:<8}{row[variant]['median_s']:>10.3f}{row[variant]['p90_s']:>10.3f}{ev:>17}")
        print(f"{kind:<8}{'ratio':<8}{row['ratio_median']:>10.2f}{row['ratio_p90']:>10.2f}"
              f"{'(flows / bare)':>17}")
    print("verified: every order submitted exactly once per variant" if report["verified"]
          else "VERIFICATION FAILED: " + "; ".join(report["problems"]))


# ---- main ---------------------------------------------------------------------------------------
async def benchmark(n: int, layout: str, use_mail: bool, work: Path) -> dict[str, Any]:
    """Set everything up under `work`, run the cases, verify, tear down; the report as a dict."""
    settings = Settings(_env_file=None, data_dir=work / "data")
    check_prerequisites(settings.browser_path, use_mail)
    mail: MailServer | None = None
    sb: RunningSandbox | None = None
    try:
        sandbox_settings: dict[str, Any] = {"layout": layout}
        if use_mail:
            try:
                mail = MailServer(work / "dovecot")
                mail.start()
            except (MailServerError, KeyError, PermissionError) as exc:
                raise SetupError(f"Dovecot could not start: {exc}") from exc
            sandbox_settings.update(lmtp_host=mail.host, lmtp_port=mail.lmtp_port)
        sb = start_sandbox(SandboxSettings.model_validate(sandbox_settings), write_scenario(work, n))
        if mail is not None:
            for acc in sb.scenario.accounts:
                mail.add_user(acc.email, acc.mailbox_password)
        settings = settings.model_copy(update={"portal_base_url": sb.url,
                                               "portal_login_base_url": sb.login_base})
        accounts = {"flows": sb.scenario.account(FLOWS_ACCOUNT), "bare": sb.scenario.account(BARE_ACCOUNT)}
        orders = {v: {"cancel": [o.id for o in acc.orders if o.status == "awaiting_shipment"][:n],
                      "refund": [o.id for o in acc.orders if o.status == "awaiting_delivery"][:n]}
                  for v, acc in accounts.items()}
        evidence = write_evidence(work / "evidence-input")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(settings.browser_path),
                                               headless=True, args=list(CHROMIUM_ARGS))
            try:
                runners = await make_runners(browser, settings, sb, accounts, evidence, layout, work)
                results = await run_cases(runners, orders, n)
                version = browser.version
            finally:
                await browser.close()
        problems = verify(sb, orders)
        log = sb.admin.mail_log(wait=True)
        mails = {"sent": len(log), "delivered": sum(1 for m in log if m.get("delivered"))}
        if use_mail and mails["delivered"] != mails["sent"]:
            problems.append(f"only {mails['delivered']} of {mails['sent']} mails reached Dovecot")
        return {"n": n, "layout": layout, "mail": use_mail, "mails": mails, "chromium": version,
                "cases": summarise(results), "verified": not problems, "problems": problems}
    finally:
        if sb is not None:
            sb.stop()
        if mail is not None:
            mail.stop()


async def make_runners(browser: Browser, settings: Settings, sb: RunningSandbox, accounts: dict[str, Account],
                       evidence: list[Path], layout: str, work: Path) -> dict[str, Any]:
    """One context per variant, each logged in (not timed)."""
    contexts: list[BrowserContext] = []
    for _ in VARIANTS:
        ctx = await browser.new_context(locale="en-US", timezone_id="UTC")
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
    flows_page, bare_page = [await c.new_page() for c in contexts]
    pack = load_pack(settings)
    acc = accounts["flows"]
    await log_in(flows_page, FlowEnv(pack, settings), Credentials(email=acc.email, password=acc.password))
    bare = BareRunner(bare_page, sb.url, evidence)
    await bare.log_in(accounts["bare"].email, accounts["bare"].password, layout)
    flows = FlowsRunner(flows_page, pack, settings, evidence, evidence[0].parent, work / "cases")
    return {"flows": flows, "bare": bare}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flows", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="cases per kind and variant (default 10)")
    parser.add_argument("--layout", choices=("a", "b"), default="a", help="sandbox page layout")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--mail", action="store_true",
                        help="deliver the portal's mails into a throwaway Dovecot (default: log only)")
    parser.add_argument("--verbose", action="store_true", help="keep the flows' INFO log lines")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="INFO" if args.verbose else "WARNING")
    with tempfile.TemporaryDirectory(prefix="recoup-bench-") as tmp:
        try:
            report = asyncio.run(benchmark(args.n, args.layout, args.mail, Path(tmp)))
        except SetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        except CaseFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_text(report)
    return 0 if report["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
