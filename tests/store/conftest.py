"""Store test helpers: a movable clock, a store on each backend, accounts and cases."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.models import Account, Case, CaseKind, NewCase
from bot.states import CaseState
from bot.store import Store
from tests.fixtures.clock import FrozenClock

START = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


_order_ids = itertools.count(100_000_000_000_000)


def next_order_id() -> str:
    """A fresh valid (15+ digit) order id."""
    return str(next(_order_ids))


def new_case(
    account: str = "alice", kind: CaseKind = CaseKind.CANCEL, order_id: str | None = None
) -> NewCase:
    """A valid cancel case (or refund case with amount) for `account`."""
    if kind is CaseKind.REFUND:
        return NewCase(
            account=account,
            order_id=order_id or next_order_id(),
            kind=kind,
            reason="not_received",
            refund_type="refund_only",
            amount="12.50",
            currency="USD",
        )
    return NewCase(account=account, order_id=order_id or next_order_id(), kind=kind, reason="changed_mind")


def add_account(store: Store, name: str) -> Account:
    """Store an account whose password is an env reference."""
    return store.accounts.add(
        Account(name=name, email=f"{name}@example.test", password_ref=f"env:RECOUP_SECRET_{name.upper()}")
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    """A migrated store on the backend of `db_url`, with account `alice`."""
    with Store.open(db_url, clock=clock, rng=random.Random(7)) as opened:
        add_account(opened, "alice")
        yield opened


def drive_to(store: Store, case: Case, path: list[CaseState]) -> Case:
    """Move `case` along `path` (each step must be allowed)."""
    for state in path:
        case = store.cases.transition(case.id, state, expected_from=case.state)
    return case
