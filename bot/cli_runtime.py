"""Running cases from the command line: the engine's parts, "run it now", and the service check.

A one-off command (`recoup cancel`, `recoup refund`, `cases approve|retry`) runs its case at
once in this process — unless a live `recoup run` holds the store's scheduler lock, in which
case the case is only queued and the service picks it up (two processes never drive one
account's browser at once that way).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.browser import BrowserManager
from bot.config import Settings
from bot.engine import Engine
from bot.errors import LeaseLostError
from bot.mail.codes import ImapCodeSource
from bot.models import Case
from bot.states import CaseState
from bot.store import Store
from flows.env import FlowEnv
from flows.money import check_refund_amount
from flows.orders import find_order
from flows.pack import Pack, load_pack
from flows.session import with_session


def worker_id(prefix: str = "cli") -> str:
    """This process's lease owner name."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}"


def service_running(store: Store) -> bool:
    """True when a scheduler (`recoup run`) holds the store's lock and it has not expired."""
    holder = store.scheduler_lock.holder()
    if holder is None:
        return False
    expires = holder.expires_at if holder.expires_at.tzinfo else holder.expires_at.replace(tzinfo=UTC)
    return expires > datetime.now(UTC)


@dataclass
class Runtime:
    """The engine and what it needs, for one command (browser launched on first use)."""

    settings: Settings
    store: Store
    browser: BrowserManager
    pack: Pack
    engine: Engine


def make_engine(settings: Settings, store: Store, browser: BrowserManager, pack: Pack) -> Engine:
    """The engine wired as every command and the service use it (IMAP codes, the store's clock)."""
    return Engine(
        settings=settings,
        store=store,
        browser=browser,
        pack=pack,
        code_source=ImapCodeSource(settings),
        clock=store.clock,
    )


@asynccontextmanager
async def runtime(settings: Settings, store: Store) -> AsyncIterator[Runtime]:
    """A Runtime whose browser is closed on the way out. Raises PackError for a bad pack."""
    pack = load_pack(settings)
    browser = BrowserManager(settings)
    try:
        yield Runtime(settings, store, browser, pack, make_engine(settings, store, browser, pack))
    finally:
        await browser.close()


async def run_now(rt: Runtime, case_id: int) -> tuple[Case, str | None]:
    """Claim the case, run it once through the engine, give the lease back; return the case as
    it ends and the class name of the last attempt's error (None when it went through).

    A case someone else holds is left alone (returned as it is)."""
    import asyncio

    worker = worker_id()
    store = rt.store
    claimed = await asyncio.to_thread(
        store.cases.claim, case_id, worker, lease_seconds=rt.settings.lease_seconds
    )
    if claimed is None:
        return await asyncio.to_thread(store.cases.get, case_id), None
    started = datetime.now(UTC)
    try:
        await rt.engine.run_case(claimed, worker)
    finally:
        current = await asyncio.to_thread(store.cases.get, case_id)
        if current.lease_owner == worker:
            with contextlib.suppress(LeaseLostError):
                await asyncio.to_thread(store.cases.release_lease, case_id, worker)
    case = await asyncio.to_thread(store.cases.get, case_id)
    attempts = await asyncio.to_thread(store.cases.attempts_of, case_id)
    last = attempts[-1] if attempts else None
    error = last.error_type if last is not None and last.finished_at >= _aware(started) else None
    return case, error


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def check_amount(
    rt: Runtime, account_name: str, order_id: str, amount: Decimal, currency: str = "USD"
) -> Decimal | None:
    """Read the order's total on the portal (signed in as the account) and refuse, with
    AmountError, an amount in another currency or above it (flows.money.check_refund_amount) —
    before any case is written. Returns the total (None when the page shows none). Raises the
    flows' typed errors (order not found, challenge, unavailable)."""
    import asyncio

    account = await asyncio.to_thread(rt.store.accounts.get, account_name)
    creds = rt.engine.credentials(account)
    env = FlowEnv(rt.pack, rt.settings, evidence=None, shots_dir=rt.settings.data_dir / "screenshots")
    secrets = [s for s in (creds.password, creds.totp_secret, creds.mailbox_password) if s]
    async with rt.browser.session(account.name, secrets=secrets) as context:
        page = await context.new_page()
        card = await with_session(
            page, env, creds, lambda: find_order(page, env, order_id), code_source=rt.engine.code_source
        )
    if card.total is None or card.total_text is None:
        return None
    check_refund_amount(amount, currency, card.total, order_id=order_id, total_text=card.total_text)
    return card.total.amount


OPEN_STATES = frozenset(
    {
        CaseState.AWAITING_APPROVAL,
        CaseState.QUEUED,
        CaseState.RUNNING,
        CaseState.SUBMITTING,
        CaseState.SUBMITTED,
        CaseState.COUNTER_OFFER,
        CaseState.APPROVED,
        CaseState.NEEDS_HUMAN,
    }
)
"""States shown by `recoup status` without arguments."""
