"""Scheduling test helpers: a movable clock, a real store on each backend, accounts, cases,
and a loguru capture. Runners and checkers are fakes (pure scheduling logic); the store is real."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loguru import logger
from sqlalchemy import func, select

from bot.cases import create_case
from bot.config import Settings
from bot.models import Account, Case, CaseKind
from bot.states import CaseState
from bot.store import Store
from bot.store._tables import CaseEventRow, CaseRow, EvidenceRow
from tests.fixtures.clock import FrozenClock

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


_ids = itertools.count(3_042_417_938_137_135)


def order_id() -> str:
    """A fresh 16-digit order id."""
    return str(next(_ids))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private data folder; refunds allowed on any share unless a test says so."""
    return Settings(data_dir=tmp_path / "data", dispute_share_cap=1.0)


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    """A migrated store with accounts alice, bob and carol."""
    with Store.open(db_url, clock=clock, rng=random.Random(3)) as opened:
        for name in ("alice", "bob", "carol"):
            add_account(opened, name)
        yield opened


def add_account(store: Store, name: str) -> Account:
    return store.accounts.add(
        Account(
            name=name,
            email=f"{name}@example.test",
            password_ref=f"env:RECOUP_PW_{name.upper()}",
            mailbox_password_ref=f"env:RECOUP_MB_{name.upper()}",
        )
    )


def cancel_case(store: Store, settings: Settings, account: str = "alice") -> Case:
    return create_case(
        store,
        settings,
        {"account": account, "order_id": order_id(), "kind": "cancel", "reason": "wrong_item"},
    )


def refund_input(account: str = "alice", **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "account": account,
        "order_id": order_id(),
        "kind": CaseKind.REFUND.value,
        "reason": "not_received",
        "refund_type": "refund_only",
        "amount": "12.50",
        "currency": "USD",
    }
    data.update(overrides)
    return data


def submit(store: Store, case: Case, owner: str = "test-worker") -> Case:
    """Drive a queued case to submitted the way a worker would (claim, intent, confirm)."""
    claimed = store.cases.claim(case.id, owner, lease_seconds=600)
    assert claimed is not None
    store.cases.mark_submit_intent(case.id, owner)
    return store.cases.transition(
        case.id, CaseState.SUBMITTED, expected_from=CaseState.SUBMITTING, owner=owner
    )


def counts(store: Store) -> tuple[int, int, int]:
    """(case rows, case events, evidence rows) in the database."""
    with store.engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (CaseRow, CaseEventRow, EvidenceRow)
        )


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll `condition` (store state has no event to wait on) until true; TimeoutError after
    `seconds`."""
    async with asyncio.timeout(seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Messages loguru logs during the test (WARNING and up)."""
    seen: list[str] = []
    handler = logger.add(lambda m: seen.append(str(m)), level="WARNING", format="{level} {message}")
    yield seen
    logger.remove(handler)
