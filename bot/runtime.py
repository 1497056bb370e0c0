"""The runtime: Recoup's parts assembled once, the same way for every entry point.

A :class:`Runtime` holds the settings, the store, the browser (launched on first use), the pack
registry (each account's portal picks its pack), the code source (the account's mailbox), the
clock and the engine built from them. The CLI's one-off commands, the scheduler service, the
demo and the benchmarks (and later the workers and the web app) all build it with
:func:`open_runtime` and use it through two doors:

* :meth:`Runtime.portal_session` — a signed-in browser page for an account
  (:class:`bot.sessions.PortalSession`);
* :meth:`Runtime.run_case` — claim a case, run it once through the engine, give the lease back.

Arrows go one way: cli → runtime → engine → flows → pack; engine → store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.browser import BrowserManager
from bot.config import Settings
from bot.engine import Clock, Engine
from bot.errors import LeaseLostError
from bot.evidence import EvidenceRecorder
from bot.mail.codes import ImapCodeSource
from bot.models import Account, Case
from bot.sessions import PortalSession
from bot.store import LockHolder, Store
from flows.login import CodeSource
from flows.registry import PackRegistry


def worker_id(prefix: str = "cli") -> str:
    """This process's lease owner name."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}"


def live_holder(store: Store, name: str | None = None) -> LockHolder | None:
    """Who holds the lock `name` (default: the scheduler's) now; None when nobody does or the
    holder's claim has run out."""
    holder = store.scheduler_lock.holder() if name is None else store.scheduler_lock.holder(name)
    if holder is None or aware(holder.expires_at) <= datetime.now(UTC):
        return None
    return holder


def service_running(store: Store) -> bool:
    """True when a scheduler (`recoup run`) holds the store's lock and it has not expired."""
    return live_holder(store) is not None


def aware(value: datetime) -> datetime:
    """`value` with UTC attached when the database returned it naive."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RunOutcome:
    """How :meth:`Runtime.run_case` left a case: the case as it ends, the class name of this
    run's last error (None when it went through), and whether it ran at all (False: someone
    else held it)."""

    case: Case
    error: str | None
    ran: bool


@dataclass
class Runtime:
    """The engine and what it needs, for one process (see the module docstring)."""

    settings: Settings
    store: Store
    browser: BrowserManager
    packs: PackRegistry
    """Packs by portal: a session for an account uses its portal's pack."""
    code_source: CodeSource | None
    clock: Clock
    engine: Engine

    @classmethod
    def build(cls, settings: Settings, store: Store, *, browser: BrowserManager | None = None) -> Runtime:
        """The parts wired as every entry point uses them (IMAP codes, the store's clock). The
        browser is not launched until a session needs it. Raises PackError for a bad pack of
        `settings.portal` (other portals' packs load, and are checked, when an account needs
        them)."""
        packs = PackRegistry(settings)
        packs.get(settings.portal)
        browser = browser or BrowserManager(settings)
        code_source = ImapCodeSource(settings)
        engine = Engine(
            settings=settings, store=store, browser=browser, pack=packs, code_source=code_source,
            clock=store.clock,
        )
        return cls(settings, store, browser, packs, code_source, store.clock, engine)

    def portal_session(
        self, account: Account, *, evidence: EvidenceRecorder | None = None
    ) -> contextlib.AbstractAsyncContextManager[PortalSession]:
        """A signed-in page for `account` (:meth:`bot.sessions.SessionOpener.open`): its
        secrets resolved, its portal's pack, its stored session; closed on the way out."""
        return self.engine.sessions.open(account, evidence=evidence)

    async def run_case(self, case_id: int, worker: str | None = None) -> RunOutcome:
        """Claim the case, run it once through the engine, give the lease back.

        A case someone else holds (or whose account has another leased case) is left alone and
        returned with `ran` False. Raises StoreUnavailableError when the database fails."""
        worker = worker or worker_id()
        store = self.store
        claimed = await asyncio.to_thread(
            store.cases.claim, case_id, worker, lease_seconds=self.settings.lease_seconds
        )
        if claimed is None:
            return RunOutcome(await asyncio.to_thread(store.cases.get, case_id), None, ran=False)
        started = datetime.now(UTC)
        try:
            await self.engine.run_case(claimed, worker)
        finally:
            current = await asyncio.to_thread(store.cases.get, case_id)
            if current.lease_owner == worker:
                with contextlib.suppress(LeaseLostError):
                    await asyncio.to_thread(store.cases.release_lease, case_id, worker)
        case = await asyncio.to_thread(store.cases.get, case_id)
        attempts = await asyncio.to_thread(store.cases.attempts_of, case_id)
        last = attempts[-1] if attempts else None
        error = last.error_type if last is not None and aware(last.finished_at) >= started else None
        return RunOutcome(case, error, ran=True)


@asynccontextmanager
async def open_runtime(
    settings: Settings, store: Store, *, browser: BrowserManager | None = None
) -> AsyncIterator[Runtime]:
    """A :class:`Runtime` whose browser is closed on the way out (see :meth:`Runtime.build`;
    `browser`: e.g. the service's, which keeps contexts warm)."""
    rt = Runtime.build(settings, store, browser=browser)
    try:
        yield rt
    finally:
        await rt.browser.close()
