"""`recoup run` (the scheduler service), `recoup sandbox` and `recoup selectors check`.

`run` takes the store's scheduler lock (a second `run` on the same store exits with code 7),
ticks the dispatcher, status checks, mail poller, deadline sweep and webhook outbox, and on
SIGTERM / SIGINT stops claiming, lets in-flight cases finish within `--grace` seconds and
releases the leases of the rest (a case still `running` goes back to `queued`; one in
`submitting` stays for reconciliation), then gives the lock back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import signal
from pathlib import Path
from typing import Annotated

import typer

from bot.browser import BrowserManager
from bot.cli.common import ExitCode, Out, configure_logging, opened_store, opening
from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.display import line
from bot.errors import InputError
from bot.mail.poller import MailPoller
from bot.models import parse_order_id
from bot.outbox import deliver_due
from bot.runtime import open_runtime, worker_id
from bot.scheduler import RecoupScheduler
from bot.store import Store
from flows.check import CheckReport, check_selectors, render_report
from flows.check_page import PAGE_KINDS, PageCheck, check_saved_page, read_saved_page, render_page_check
from flows.registry import PackRegistry


async def serve(
    settings: Settings, store: Store, stop: asyncio.Event, *, grace_seconds: float, on_started: object = None
) -> None:
    """Run the scheduler until `stop` is set, then shut down cleanly (see the module docstring).
    Raises SchedulerLockedError when another live scheduler holds the lock."""
    browser = BrowserManager(settings, warm_seconds=settings.warm_context_seconds)
    async with open_runtime(settings, store, browser=browser) as rt:
        dispatcher = Dispatcher(store, rt.engine, settings, store.clock, worker_id("run"), checker=rt.engine)
        poller = MailPoller(store, rt.packs, settings, store.clock, on_case_moved=rt.engine.write_report)
        outbox = (
            functools.partial(deliver_due, store, settings, store.clock) if settings.webhook_url else None
        )
        scheduler = RecoupScheduler(store, settings, store.clock, dispatcher, mail=poller, outbox=outbox)
        await scheduler.start()
        try:
            if callable(on_started):
                on_started(scheduler)
            await stop.wait()
        finally:
            await scheduler.shutdown(grace_seconds=grace_seconds)


def run(
    ctx: typer.Context,
    grace: Annotated[
        float, typer.Option(help="Seconds in-flight cases get to finish on SIGTERM/SIGINT.")
    ] = 60.0,
) -> None:
    """Run the scheduler service until SIGTERM or Ctrl-C (one per store)."""
    with opening(ctx, store="create") as cmd:
        out, settings, store = cmd.out, cmd.settings, cmd.store
        log_file = cmd.log_file

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)

            def started(_: object) -> None:
                out.err.print(
                    line(
                        f"recoup run: scheduler started on {settings.resolved_database_url} "
                        f"(log {log_file}); SIGTERM or Ctrl-C stops it"
                    )
                )

            await serve(settings, store, stop, grace_seconds=grace, on_started=started)

        asyncio.run(main())
    out.err.print(line("recoup run: stopped cleanly"))


def sandbox(
    scenario: Annotated[str, typer.Option(help="Scenario name or YAML file.")] = "demo",
    port: Annotated[int, typer.Option(help="Portal port (0: a free one).")] = 0,
) -> None:
    """Start the sandbox portal and its Dovecot (like `python -m sandbox`) until Ctrl-C."""
    from sandbox.__main__ import main as sandbox_main

    raise typer.Exit(sandbox_main(["--scenario", scenario, "--port", str(port)]))


def selectors_check(
    ctx: typer.Context,
    account: Annotated[
        str | None, typer.Option(help="Sign in as this account and check the live pages (read-only).")
    ] = None,
    order: Annotated[str | None, typer.Option(help="Order for the detail page (default: the first).")] = None,
    refund_order: Annotated[
        str | None, typer.Option(help="An order whose return/refund form is opened (nothing is sent).")
    ] = None,
    page: Annotated[
        Path | None,
        typer.Option(help="An HTML file saved from the portal: check the pack on it, offline (needs --as)."),
    ] = None,
    page_kind: Annotated[
        str | None, typer.Option("--as", help="What the saved page is: " + " | ".join(PAGE_KINDS) + ".")
    ] = None,
    scripts: Annotated[
        bool, typer.Option(help="Run the saved page's scripts (outside requests are blocked either way).")
    ] = True,
    portal: Annotated[
        str | None, typer.Option(help="Check this portal's pack offline (default: the configured portal).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the selector pack: it loads and validates; with --account, every locator is tried on
    the portal's pages; with --page FILE --as KIND, on a page you saved (served from 127.0.0.1,
    nothing else reached). Exit 3 when a required locator found nothing (the portal changed)."""
    with opening(ctx, as_json, store=None) as cmd:
        out, settings = cmd.out, cmd.settings
        if page is not None or page_kind is not None:
            _check_page_command(out, settings, account, page, page_kind, scripts)
            return
        pack = PackRegistry(settings).get(portal or settings.portal)
        if account is None:
            keys = pack.locator_keys()
            out.data(
                {"pack": str(pack.path), "portal": pack.model.portal, "locators": len(keys), "failed": False},
                lambda: out.console.print(line(f"{pack.path}: valid, {len(keys)} locators")),
            )
            return
        order = parse_order_id(order) if order is not None else None
        refund_order = parse_order_id(refund_order) if refund_order is not None else None
        with opened_store(settings, create=False) as store:
            configure_logging(settings, verbose=cmd.verbose)
            report = asyncio.run(_check_live(settings, store, account, order, refund_order))
        out.data(
            {**dataclasses.asdict(report), "failed": report.failed},
            lambda: out.console.print(line(render_report(report))),
        )
        if report.failed:
            raise typer.Exit(int(ExitCode.NEEDS_HUMAN))


def _check_page_command(
    out: Out, settings: Settings, account: str | None, page: Path | None, kind: str | None, scripts: bool
) -> None:
    """`selectors check --page FILE --as KIND`: exit 0 when every required locator hit, 3 when
    one found nothing, 2 for a bad file or option."""
    if page is None or kind is None:
        raise InputError("--page FILE and --as " + "|".join(PAGE_KINDS) + " go together")
    if account is not None:
        raise InputError("--page checks a saved page offline; it does not take --account")
    if kind not in PAGE_KINDS:
        raise InputError(f"--as {kind!r}: choose one of " + ", ".join(PAGE_KINDS))
    read_saved_page(page)  # a bad file is refused before the pack or a browser is touched
    PackRegistry(settings).get(settings.portal)
    result = asyncio.run(_check_saved(settings, page, kind, scripts))
    out.data(result.as_dict(), lambda: out.console.print(line(render_page_check(result))))
    if result.failed:
        raise typer.Exit(int(ExitCode.NEEDS_HUMAN))


async def _check_saved(settings: Settings, page: Path, kind: str, scripts: bool) -> PageCheck:
    async with BrowserManager(settings) as browser:
        return await check_saved_page(browser, settings, page, kind, scripts=scripts)


async def _check_live(
    settings: Settings, store: Store, account_name: str, order: str | None, refund_order: str | None
) -> CheckReport:
    async with open_runtime(settings, store) as rt:
        account = await asyncio.to_thread(store.accounts.get, account_name)
        async with rt.portal_session(account) as session:
            return await check_selectors(
                session.page,
                session.env,
                session.creds,
                order_id=order,
                refund_order_id=refund_order,
                code_source=session.code_source,
            )
