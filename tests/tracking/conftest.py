"""Helpers for the outcome-tracking tests: a movable clock, a store on each backend (with the
webhook outbox target), the real selector pack, accounts bound to a Dovecot mailbox, cases
driven to `submitted`, and portal mails."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from email.utils import make_msgid

import pytest

from bot.config import Settings
from bot.mail.poller import MailPoller
from bot.models import Account, Case, CaseKind, NewCase
from bot.states import CaseState
from bot.store import Store
from flows.pack import Pack, load_pack
from tests.fixtures.clock import FrozenClock
from tests.fixtures.mail import Mailbox, deliver, make_message

PORTAL = "AliExpress <transaction@notice.aliexpress.com>"
MAILBOX_PW_VAR = "RECOUP_TEST_MAILBOX_PW"


_order_ids = itertools.count(3_042_417_938_100_000)


def next_order_id() -> str:
    """A fresh 16-digit order id."""
    return str(next(_order_ids))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store(db_url: str, clock: FrozenClock) -> Iterator[Store]:
    """A migrated store (SQLite, then PostgreSQL) writing outbox rows for target `webhook`."""
    with Store.open(db_url, clock=clock, rng=random.Random(3), outbox_targets=("webhook",)) as opened:
        yield opened


@pytest.fixture(scope="session")
def pack() -> Pack:
    """The real AliExpress selector pack."""
    return load_pack(Settings())


def add_account(store: Store, name: str, email: str) -> Account:
    """An account whose mailbox password is the env reference MAILBOX_PW_VAR."""
    return store.accounts.add(
        Account(
            name=name,
            email=email,
            password_ref=f"env:RECOUP_SECRET_{name.upper()}",
            mailbox_password_ref=f"env:{MAILBOX_PW_VAR}",
        )
    )


def submitted_case(
    store: Store, account: str, kind: CaseKind = CaseKind.CANCEL, order_id: str | None = None
) -> Case:
    """A case of `account` moved queued → running → submitting → submitted."""
    if kind is CaseKind.REFUND:
        new = NewCase(
            account=account, order_id=order_id or next_order_id(), kind=kind, reason="not_received",
            refund_type="refund_only", amount="12.50", currency="USD",
        )  # fmt: skip
    else:
        new = NewCase(account=account, order_id=order_id or next_order_id(), kind=kind, reason="changed_mind")
    case = store.intake.create_with(new)
    for state in (CaseState.RUNNING, CaseState.SUBMITTING, CaseState.SUBMITTED):
        case = store.cases.transition(case.id, state, expected_from=case.state)
    return case


def portal_mail(
    box: Mailbox,
    subject: str,
    order_id: str | None = None,
    *,
    sender: str = PORTAL,
    message_id: str | None = None,
) -> bytes:
    """A portal-shaped notification (body links the order with tradeOrderId=)."""
    link = f"https://www.aliexpress.com/p/order/detail.html?tradeOrderId={order_id}" if order_id else ""
    body = f"Hello,\n\nSomething happened to your order.\n\nView order: {link}\n"
    return make_message(subject, body, sender=sender, to=box.email,
                        message_id=message_id or make_msgid(domain="notice.example.test"))  # fmt: skip


def raw_mail(box: Mailbox, subject: str, order_id: str | None, from_value: str, *,
             date: str = "Sat, 1 Mar 2025 10:00:00 +0000", extra: str = "") -> bytes:
    """A portal-shaped mail written byte by byte, with a From header `from_value` exactly as
    given (display-name tricks the email package refuses to write), and `extra` header lines."""
    link = f"https://www.aliexpress.com/p/order/detail.html?tradeOrderId={order_id}" if order_id else ""
    return (f"{extra}From: {from_value}\r\nTo: {box.email}\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: {make_msgid(domain='notice.example.test')}\r\n\r\n"
            f"Something happened to your order.\r\nView order: {link}\r\n").encode("utf-8", "surrogateescape")


def send(box: Mailbox, raw: bytes) -> None:
    """Deliver over LMTP."""
    deliver(box.server, box.email, raw)


def make_poller(store: Store, pack: Pack, box: Mailbox, clock: FrozenClock, **kwargs: object) -> MailPoller:
    """A poller reading `box` on the test Dovecot."""
    settings = Settings(imap_host=box.server.host, imap_port=box.server.imap_port, imap_ssl=False,
                        mail_fetch_batch=7)  # fmt: skip
    return MailPoller(store, pack, settings, clock, environ={MAILBOX_PW_VAR: box.password}, **kwargs)  # type: ignore[arg-type]
