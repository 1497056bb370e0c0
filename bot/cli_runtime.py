"""Running cases from the command line: the engine's parts, "run it now", and the service check.

A one-off command (`recoup cancel`, `recoup refund`, `cases approve|retry`) runs its case at
once in this process — unless a live `recoup run` holds the store's scheduler lock, in which
case the case is only queued and the service picks it up (two processes never drive one
account's browser at once that way).

Before a one-off drives an account's browser (the amount check, the run) it holds the account
(:func:`hold_account`): no case of the account may be leased by someone else (the dispatcher's
rule: one leased case per account) and the account's named lock in the `scheduler_lock` table
(`account:<name>`) must be free; it is taken, renewed and given back like the scheduler lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.browser import BrowserManager
from bot.config import Settings
from bot.engine import Engine
from bot.errors import AmountError, CurrencyMismatchError, LeaseLostError, SchedulerLockedError
from bot.heartbeat import heartbeat
from bot.mail.codes import ImapCodeSource
from bot.models import Case
from bot.store import LockHolder, Store
from flows.money import check_refund_amount
from flows.orders import find_order
from flows.pack import Pack
from flows.registry import PackRegistry
from flows.session import with_session


def worker_id(prefix: str = "cli") -> str:
    """This process's lease owner name."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}"


def _live_holder(store: Store, name: str | None = None) -> LockHolder | None:
    """Who holds the lock `name` (default: the scheduler's) now; None when nobody does or the
    holder's claim has run out."""
    holder = store.scheduler_lock.holder() if name is None else store.scheduler_lock.holder(name)
    if holder is None or _aware(holder.expires_at) <= datetime.now(UTC):
        return None
    return holder


def service_running(store: Store) -> bool:
    """True when a scheduler (`recoup run`) holds the store's lock and it has not expired."""
    return _live_holder(store) is not None


@dataclass
class Runtime:
    """The engine and what it needs, for one command (browser launched on first use)."""

    settings: Settings
    store: Store
    browser: BrowserManager
    packs: PackRegistry
    """Packs by portal: a session for an account uses its portal's pack."""
    engine: Engine


def make_engine(
    settings: Settings, store: Store, browser: BrowserManager, pack: Pack | PackRegistry
) -> Engine:
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
    """A Runtime whose browser is closed on the way out. Raises PackError for a bad pack of
    `settings.portal` (other portals' packs load, and are checked, when an account needs them)."""
    packs = PackRegistry(settings)
    packs.get(settings.portal)
    browser = BrowserManager(settings)
    try:
        yield Runtime(settings, store, browser, packs, make_engine(settings, store, browser, packs))
    finally:
        await browser.close()


@dataclass(frozen=True)
class RunOutcome:
    """How `run_now` left a case: the case as it ends, the class name of this run's last error
    (None when it went through), and whether it ran at all (False: someone else held it)."""

    case: Case
    error: str | None
    ran: bool


async def run_now(rt: Runtime, case_id: int) -> RunOutcome:
    """Claim the case, run it once through the engine, give the lease back.

    A case someone else holds (or whose account has another leased case) is left alone and
    returned with `ran` False."""
    worker = worker_id()
    store = rt.store
    claimed = await asyncio.to_thread(
        store.cases.claim, case_id, worker, lease_seconds=rt.settings.lease_seconds
    )
    if claimed is None:
        return RunOutcome(await asyncio.to_thread(store.cases.get, case_id), None, ran=False)
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
    return RunOutcome(case, error, ran=True)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def check_amount(
    rt: Runtime, account_name: str, order_id: str, amount: Decimal, currency: str | None
) -> Decimal | None:
    """Read the order's total on the portal (signed in as the account) and check `amount` against
    it with :func:`flows.money.check_refund_amount` — before any case is written. The caller
    must hold the account (:func:`hold_account`). Returns the total (None when the page shows
    none). Raises AmountError for an amount above the total or a total in another currency
    (bad input: nothing written), and the flows' typed errors (order not found, challenge,
    unavailable)."""
    account = await asyncio.to_thread(rt.store.accounts.get, account_name)
    creds = rt.engine.credentials(account)
    env = rt.packs.env(account.portal, shots_dir=rt.settings.data_dir / "screenshots")
    secrets = [s for s in (creds.password, creds.totp_secret, creds.mailbox_password) if s]
    async with rt.browser.session(account.name, secrets=secrets) as context:
        page = await context.new_page()
        card = await with_session(
            page, env, creds, lambda: find_order(page, env, order_id), code_source=rt.engine.code_source
        )
    try:
        return check_refund_amount(
            amount, currency, card.total, order_id=order_id, total_text=card.total_text or ""
        )
    except (CurrencyMismatchError, AmountError) as exc:  # at intake both are bad input
        raise AmountError(f"{exc.message}; nothing was written", **exc.context) from None


ACCOUNT_LOCK_PREFIX = "account:"
"""Name prefix of an account's lock row in the `scheduler_lock` table."""

WAIT_POLL_SECONDS = 1.0
"""How often a one-off looks again whether a busy account came free."""


@dataclass(frozen=True)
class AccountHold:
    """What :func:`hold_account` got: `held` True, or False with who keeps the account busy."""

    held: bool
    busy_with: str | None = None


def account_busy_with(store: Store, account_name: str, owner: str) -> str | None:
    """Who other than `owner` uses the account now ("case 12 running", "another command (...)"),
    or None when it is free."""
    for case in store.cases.leased():
        if case.account == account_name and case.lease_owner != owner:
            return f"case {case.id} {case.state.value}"
    holder = _live_holder(store, ACCOUNT_LOCK_PREFIX + account_name)
    if holder is not None and holder.owner != owner:
        return f"another command ({holder.owner}) is using it"
    return None


def _try_hold(store: Store, account_name: str, owner: str, ttl: float) -> str | None:
    """Take the account's lock when no case of it is leased; None when held, else who is busy."""
    busy = account_busy_with(store, account_name, owner)
    if busy is not None:
        return busy
    try:
        store.scheduler_lock.acquire(owner, ttl_seconds=ttl, name=ACCOUNT_LOCK_PREFIX + account_name)
    except SchedulerLockedError:
        return account_busy_with(store, account_name, owner) or "another command is using it"
    busy = account_busy_with(store, account_name, owner)  # a case claimed meanwhile
    if busy is not None:
        store.scheduler_lock.release(owner, name=ACCOUNT_LOCK_PREFIX + account_name)
    return busy


@asynccontextmanager
async def hold_account(
    store: Store, settings: Settings, account_name: str, *, wait_seconds: float, say: Callable[[str], None]
) -> AsyncIterator[AccountHold]:
    """Hold the account for this process while the block runs (no other one-off's amount check
    or run, and no case of it leased by anyone else, when it starts). A busy account is waited
    for up to `wait_seconds` (`say` tells the person once); when it stays busy the block gets
    `held` False and must not drive the account's browser. The lock is renewed while held and
    given back on the way out. Raises StoreUnavailableError when the database fails."""
    owner = worker_id()
    name = ACCOUNT_LOCK_PREFIX + account_name
    ttl = float(settings.lease_seconds)
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        busy = await asyncio.to_thread(_try_hold, store, account_name, owner, ttl)
        if busy is None:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            yield AccountHold(held=False, busy_with=busy)
            return
        if not told:
            say(f"account {account_name} is busy ({busy}); waiting up to {wait_seconds:g} s")
            told = True
        await asyncio.sleep(min(WAIT_POLL_SECONDS, left))

    async def renew() -> None:
        await asyncio.to_thread(store.scheduler_lock.renew, owner, ttl_seconds=ttl, name=name)

    try:
        # no `lost`: a lock taken over (or a store hiccup) is logged and renewal goes on; the run
        # in the block is not stopped (its case lease protects the case itself)
        async with heartbeat(renew, ttl / 3, what=f"account {account_name} lock"):
            yield AccountHold(held=True)
    finally:
        await asyncio.to_thread(store.scheduler_lock.release, owner, name=name)
