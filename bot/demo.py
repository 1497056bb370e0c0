"""`recoup demo`: the main job on the embedded sandbox, start to end, in a few minutes.

1. Starts a throwaway Dovecot and the sandbox portal (demo scenario) in a temp folder.
2. Adds the demo accounts; their secrets are environment references set in this process only.
3. Signs each account in once (stored session; Bob's login asks for an emailed code) and records
   its order count (the dispute-share cap needs it); Dora's order list is behind a slider.
4. Queues about 20 cases: cancellations and refunds with generated PNG evidence, one account in
   German, one case that meets the slider challenge.
5. Runs the real scheduler service (:func:`bot.cli.service.serve`) until every case is filed,
   then moves the sandbox clock forward through its admin API, asking for status checks after
   each step, until every case is final (or approved, for a cancellation) or waits for a human.
6. Prints a summary table and the HTML report of each case.

Sandbox and Dovecot are stopped on every exit path, Ctrl-C and SIGTERM included. Exit code 0
when every case settled, 5 when the time limit ran out first, 130 on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import struct
import tempfile
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import FrameType

from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bot.cases import create_case
from bot.cli.common import ExitCode, configure_logging, opened_store, state_style
from bot.config import Settings, use_private_umask
from bot.display import line, shown
from bot.errors import ConfigError, RecoupError
from bot.models import Account, Case, CaseKind, NewCase, RefundType
from bot.runtime import Runtime, open_runtime
from bot.secrets import env_ref_for
from bot.states import FILING_STATES, STATUS_CHECK_STATES, CaseState, is_final
from bot.store import Store
from sandbox.process import SandboxProcess
from sandbox.scenario import Order

CLOCK_STEPS_S = (7200, 270000, 172800, 172800)
"""How far the sandbox clock moves at each step: 2 h (sellers answer after 10 min to 2 h; a
counter-offer is answered and, refused, escalates), then 75 h (the platform decides escalated
disputes after 72 h; unanswered cancellations close after 48 h), then 48 h (unanswered refunds
are refunded after 120 h), then 48 h more for anything late."""


@dataclass(frozen=True)
class Planned:
    """One demo case: account name, order id, kind, reason and (refunds) amount and type."""

    account: str
    order_id: str
    kind: CaseKind
    reason: str
    amount: Decimal | None = None
    refund_type: RefundType = RefundType.REFUND_ONLY


def _c(account: str, order: str, reason: str = "not_shipped_on_time") -> Planned:
    return Planned(account, order, CaseKind.CANCEL, reason)


def _r(
    account: str, order: str, reason: str = "not_received", rtype: RefundType = RefundType.REFUND_ONLY
) -> Planned:
    return Planned(account, order, CaseKind.REFUND, reason, refund_type=rtype)


PLAN: tuple[Planned, ...] = (
    _c("alice", "3042417938137135"),  # seller approves after 30 min
    _r("claudia", "3059299937246065"),  # German pages; seller refunds
    _c("dora", "3042417938137990"),  # slider challenge → needs a human
    _r("alice", "3042417938137136", "damaged"),  # first modal; seller counter-offers 40 %
    _c("bob", "3044235629588013"),  # emailed login code; seller never answers
    _c("alice", "3084003991350300", "out_of_stock"),  # seller refuses
    _r("alice", "3095382236898118"),  # seller refunds
    _r("alice", "3029658285472904", "not_as_described"),  # seller rejects the dispute
    _c("alice", "3010467697233110"),  # shipped: cannot be cancelled
    _c("alice", "3041407033152392", "wrong_product"),  # awaiting payment: cancelled at once
    _r("alice", "3086789136034447", "wrong_item", RefundType.RETURN_AND_REFUND),
    _r("bob", "3099033632545890"),  # seller silent: refunded after 5 days
    _c("claudia", "3011148240903825"),  # German cancellation, approved
    _r("claudia", "3085699001037383", "damaged"),  # German counter-offer
    _c("alice", "3057936001526337", "cannot_contact"),
    _r("alice", "3049162172891041", "poor_quality"),
    _c("bob", "3061394068446470", "duplicate_order"),
    _r("bob", "3032588407601317", "missing_parts"),
    _c("claudia", "3038168724144858", "refuses_to_ship"),
    _c("alice", "3010624905663412", "other_supplier"),
)
"""About 20 cases, the most telling first (`--cases N` keeps the first N)."""


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A small valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def settled(case: Case) -> bool:
    """True when the demo need not wait for the case any more."""
    return (
        is_final(case.state)
        or case.state is CaseState.NEEDS_HUMAN
        or (case.kind is CaseKind.CANCEL and case.state is CaseState.APPROVED)
    )


def demo_settings(
    folder: Path, sb: SandboxProcess, *, webhook_url: str | None = None, webhook_secret: str | None = None
) -> Settings:
    """Settings for the demo: everything explicit, nothing read from the caller's RECOUP_* (the
    outcome webhook only when the caller passes its URL and secret)."""
    return Settings(
        data_dir=folder,
        database_url=f"sqlite:///{(folder / 'recoup.db').resolve()}",
        portal_base_url=sb.url,
        portal_login_base_url=sb.url + "/login",
        imap_host=sb.imap_host,
        imap_port=sb.imap_port,
        imap_ssl=False,
        secrets_file=None,
        action_timeout_ms=8_000,
        navigation_timeout_ms=15_000,
        confirm_timeout_ms=15_000,
        login_code_timeout_s=60,
        max_concurrency=2,
        pacing_seconds=0,
        dry_run=False,
        approve_first=False,
        dispatch_interval_seconds=1,
        status_poll_interval_seconds=2,
        mailbox_poll_interval_seconds=5,
        deadline_sweep_interval_seconds=30,
        outbox_interval_seconds=2,
        status_check_new_minutes=60,
        scheduler_lock_ttl_seconds=30,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        evidence_input_dir=None,
    )


def run_demo(
    *,
    data_dir: Path | None,
    cases: int = 20,
    timeout: float = 600.0,
    verbose: bool = False,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> int:
    """Run the demo (see the module docstring); returns the exit code. Everything it writes is
    private (umask 0077), whoever calls it. With `webhook_url` and `webhook_secret` the service
    also delivers the cases' events there, signed."""
    use_private_umask()
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, 140)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running" at every busy tick
    folder = (data_dir or Path(tempfile.mkdtemp(prefix="recoup-demo-"))).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        Console(stderr=True, soft_wrap=True).print(
            line(f"error: the data folder {folder} cannot be used: {exc.strerror or exc}")
        )
        return int(ExitCode.CONFIG)
    console.print(line("Recoup demo — data folder: ", shown(folder, "bold")))
    started = time.monotonic()

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with ExitStack() as stack:
            sb = stack.enter_context(SandboxProcess())
            console.print(line(f"Sandbox portal {sb.url} · Dovecot IMAP {sb.imap_host}:{sb.imap_port}"))
            settings = demo_settings(folder, sb, webhook_url=webhook_url, webhook_secret=webhook_secret)
            settings.ensure_dirs()
            log_file = configure_logging(settings, verbose=verbose)
            store = stack.enter_context(opened_store(settings))  # events queued for the webhook, if any
            code = asyncio.run(_demo(console, settings, store, sb, PLAN[: max(1, cases)], timeout))
            signal.signal(signal.SIGTERM, on_term)  # the closed event loop reset it
            _summary(console, store, settings)
            if not _one_request_per_case(console, store, sb) and code is ExitCode.OK:
                code = ExitCode.ERROR
            console.print(line(f"Log: {log_file}   ·   took {time.monotonic() - started:.0f} s"))
            return int(code)
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print(shown("Interrupted: sandbox and Dovecot stopped.", "yellow"))
        return int(ExitCode.INTERRUPTED)
    except ConfigError as error:  # e.g. a data folder that is not writable: one line, exit 6
        Console(stderr=True, soft_wrap=True).print(line(f"error: {error}"))
        return int(ExitCode.CONFIG)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _add_accounts(store: Store, sb: SandboxProcess) -> None:
    for acc in sb.scenario.accounts:
        name = acc.email.split("@", 1)[0]
        os.environ[env_ref_for(name, "PASSWORD").removeprefix("env:")] = acc.password
        os.environ[env_ref_for(name, "MAILBOX").removeprefix("env:")] = acc.mailbox_password
        store.accounts.add(
            Account(
                name=name,
                email=acc.email,
                locale=acc.locale,
                password_ref=env_ref_for(name, "PASSWORD"),
                mailbox_password_ref=env_ref_for(name, "MAILBOX"),
            )
        )


def _queue(store: Store, settings: Settings, sb: SandboxProcess, plan: tuple[Planned, ...]) -> list[Case]:
    inputs = settings.data_dir / "demo-input"
    inputs.mkdir(exist_ok=True)
    orders: dict[str, Order] = {o.id: o for o in sb.scenario.orders()}
    made: list[Case] = []
    for index, item in enumerate(plan):
        order = orders[item.order_id]
        if item.kind is CaseKind.CANCEL:
            new = NewCase(
                account=item.account,
                order_id=item.order_id,
                kind=CaseKind.CANCEL,
                reason=item.reason,
                message="Please cancel: it has not shipped as agreed.",
            )
            made.append(create_case(store, settings, new))
            continue
        line = order.items[0]
        amount = item.amount or (line.price * line.quantity)
        photos = []
        for n in range(2):
            path = inputs / f"case{index:02d}-photo{n + 1}.png"
            path.write_bytes(png(24 + 8 * n, 16, (200 - 60 * n, 40 + 20 * index % 200, 60)))
            photos.append(path)
        new = NewCase(
            account=item.account,
            order_id=item.order_id,
            kind=CaseKind.REFUND,
            reason=item.reason,
            message="The parcel did not arrive as described; photos attached.",
            refund_type=item.refund_type,
            amount=amount,
            currency="USD",
        )
        made.append(create_case(store, settings, new, evidence=photos))
    return made


async def _demo(
    console: Console,
    settings: Settings,
    store: Store,
    sb: SandboxProcess,
    plan: tuple[Planned, ...],
    time_limit_s: float,
) -> ExitCode:

    deadline = time.monotonic() + time_limit_s
    me = asyncio.current_task()
    assert me is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, me.cancel)  # unwind through finally
    _add_accounts(store, sb)
    await _sign_in(console, settings, store, sorted({p.account for p in plan}))
    cases = await asyncio.to_thread(_queue, store, settings, sb, plan)
    ids = [c.id for c in cases]
    console.print(line(f"Queued {len(cases)} cases; starting the scheduler."))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        # Phase 1: file every case. Status checks would only see unchanged orders (the sandbox
        # clock stands still), so they are held back until phase 2.
        filing = settings.model_copy(
            update={"status_poll_interval_seconds": 3600.0, "mailbox_poll_interval_seconds": 3600.0}
        )
        bar = progress.add_task("filing cases", total=len(ids))
        async with _service(filing, store) as service:
            await _wait_filed(
                store, ids, deadline, service, progress, bar, poll_s=settings.dispatch_interval_seconds
            )
        # Phase 2: the sellers answer on the sandbox clock; status checks and mail follow them.
        bar = progress.add_task("outcomes", total=len(ids))
        async with _service(settings, store) as service:
            return await _step_clock(
                store, sb, ids, deadline, service, progress, bar, poll_s=settings.status_poll_interval_seconds
            )


async def _sign_in(console: Console, settings: Settings, store: Store, names: list[str]) -> None:
    """Sign every account in once, two at a time, and record its order count."""
    from bot.cli.accounts import login_and_count

    gate = asyncio.Semaphore(settings.max_concurrency)
    async with open_runtime(settings, store) as rt:

        async def one(name: str) -> Text:
            async with gate:
                try:
                    seen = await login_and_count(rt, name)
                except RecoupError as exc:
                    return line(f"  {name}: ", shown(type(exc).__name__, "yellow"), f": {exc}")
                return line(f"  {name}: signed in ({seen['method']}), {seen['orders_seen']} orders")

        for signed_in in await asyncio.gather(*(one(n) for n in names)):
            console.print(signed_in)


@asynccontextmanager
async def _service(settings: Settings, store: Store) -> AsyncIterator[asyncio.Task[None]]:
    """The scheduler service (`recoup run`'s core) as a task, stopped cleanly on the way out."""
    from bot.cli.service import serve

    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, store, stop, grace_seconds=30))
    try:
        yield task
    finally:
        stop.set()
        await task


async def _cases(store: Store, ids: list[int], service: asyncio.Task[None]) -> list[Case]:
    if service.done():
        service.result()  # re-raise what stopped the scheduler
    return [await asyncio.to_thread(store.cases.get, i) for i in ids]


async def _wait_filed(
    store: Store,
    ids: list[int],
    deadline: float,
    service: asyncio.Task[None],
    progress: Progress,
    bar: TaskID,
    *,
    poll_s: float,
) -> None:
    """Until no case is queued or running (or time is up); the store is read every `poll_s`."""
    unfiled = FILING_STATES
    while True:
        current = await _cases(store, ids, service)
        progress.update(bar, completed=sum(c.state not in unfiled for c in current))
        if all(c.state not in unfiled for c in current) or time.monotonic() > deadline:
            return
        await asyncio.sleep(poll_s)


async def _step_clock(
    store: Store,
    sb: SandboxProcess,
    ids: list[int],
    deadline: float,
    service: asyncio.Task[None],
    progress: Progress,
    bar: TaskID,
    *,
    poll_s: float,
) -> ExitCode:
    """Move the sandbox clock step by step; after each step ask for a status check of every open
    case and wait until each was checked; stop when every case settled, the steps are used up
    or time is up."""
    hours = 0.0
    for step in CLOCK_STEPS_S:
        current = await _cases(store, ids, service)
        progress.update(bar, completed=sum(settled(c) for c in current))
        if all(settled(c) for c in current) or time.monotonic() > deadline:
            break
        await asyncio.to_thread(sb.admin.advance, step)
        hours += step / 3600
        logger.info("demo: sandbox clock moved {} h forward (+{:.0f} h in all)", step / 3600, hours)
        progress.update(bar, description=f"outcomes (sandbox clock +{hours:.0f} h)")
        tracked = [c.id for c in current if c.state in STATUS_CHECK_STATES]
        for case_id in tracked:
            await asyncio.to_thread(store.tracking.request_check, case_id, event="demo_clock_advanced")
        asked = store.clock()  # a check that starts from now on moves check_due_at past this
        while time.monotonic() < deadline:
            rows = [await asyncio.to_thread(store.tracking.tracking, i) for i in tracked]
            if all(
                r.state not in STATUS_CHECK_STATES or (r.check_due_at and r.check_due_at > asked)
                for r in rows
            ):
                break
            await asyncio.sleep(poll_s)
    current = await _cases(store, ids, service)
    progress.update(bar, completed=sum(settled(c) for c in current))
    return ExitCode.OK if all(settled(c) for c in current) else ExitCode.UNAVAILABLE


def _one_request_per_case(console: Console, store: Store, sb: SandboxProcess) -> bool:
    """Print what the sandbox portal itself counted: every filed case's request must have reached
    it exactly once. False (and the offending orders printed) when one was sent twice."""
    twice: list[str] = []
    filed = 0
    for case in store.cases.list_cases():
        sent = sb.admin.requests_sent(case.order_id).get(case.kind.value, 0)
        filed += sent > 0
        if sent > 1:
            twice.append(f"{case.order_id} ({case.kind.value} ×{sent})")
    if twice:
        console.print(shown(f"The portal received a request more than once: {', '.join(twice)}", "red"))
        return False
    console.print(
        line(
            f"The sandbox portal counted one request for each of the {filed} filed cases; "
            "none was sent twice."
        )
    )
    return True


def _summary(console: Console, store: Store, settings: Settings) -> None:
    table = Table(title="Demo cases", show_lines=False)
    for column in ("case", "account", "kind", "order", "state"):
        table.add_column(column, no_wrap=True)
    table.add_column("outcome", overflow="ellipsis", no_wrap=True, max_width=70)
    reports: list[str] = []
    engine = Runtime.build(settings, store).engine  # reports only: no browser is launched
    for case in store.cases.list_cases():
        table.add_row(
            str(case.id),
            shown(case.account),
            case.kind.value,
            shown(case.order_id),
            shown(case.state.value, state_style(case.state)),
            shown((case.outcome_note or case.last_error or "")[:70]),
        )
        if engine.case_dir(case.id).is_dir():  # re-rendered: outcomes from mail came after the last run
            reports.append(str(engine.write_report(case.id)))
    console.print(table)
    console.print(line("HTML evidence reports:"))
    for path in reports:
        console.print(line(f"  {path}"), soft_wrap=True)
