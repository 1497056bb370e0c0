"""A one-off run from outside the service: hold the account, check a refund's amount first.

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
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from bot.config import Settings
from bot.errors import AmountError, CurrencyMismatchError, InputError, SchedulerLockedError
from bot.heartbeat import heartbeat
from bot.runtime import Runtime, live_holder, worker_id
from bot.store import Store
from flows.orders import check_order_refund, find_order


async def check_amount(
    rt: Runtime,
    account_name: str,
    order_id: str,
    amount: Decimal,
    currency: str | None,
    *,
    item_line: int | None = None,
) -> Decimal | None:
    """Read the order's card on the portal (signed in as the account) and check `amount` with
    :func:`flows.orders.check_order_refund` — against the price of `item_line` (1-based) when the
    card prints per-line prices, else the order total — before any case is written. The caller
    must hold the account (:func:`hold_account`). Returns the limit (None when the page shows
    none). Raises InputError for a line the order does not have, AmountError for an amount
    above the limit or a limit in another currency (bad input: nothing written), and the flows'
    typed errors (order not found, challenge, unavailable)."""
    account = await asyncio.to_thread(rt.store.accounts.get, account_name)
    async with rt.portal_session(account) as session:
        card = await session.run(lambda: find_order(session.page, session.env, order_id))
    try:
        return check_order_refund(card, amount, currency, item_line=item_line)
    except (CurrencyMismatchError, AmountError) as exc:  # at intake both are bad input
        raise AmountError(f"{exc.message}; nothing was written", **exc.context) from None
    except InputError as exc:
        raise InputError(f"{exc.message}; nothing was written", **exc.context) from None


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
    holder = live_holder(store, ACCOUNT_LOCK_PREFIX + account_name)
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
