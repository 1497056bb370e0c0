"""Crash tests: the scheduler service (`python -m bot run`) is SIGKILLed at named points and
restarted; every case must end in the right state and the sandbox must have counted exactly one
submission per case. Each runs on SQLite and on PostgreSQL (`db_url`; on PostgreSQL one
representative kill point around the click, to keep the suite's time small).

The kill comes from a failpoint (bot/failpoints.py) armed through RECOUP_FAILPOINTS, so it lands
exactly between the two steps named, like a power cut would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.models import Account, CaseKind, NewCase
from bot.states import CaseState
from bot.store import Store
from bot.store._tables import AccountRow, ProcessedMessageRow
from sandbox.mailserver import MailServer
from sandbox.server import RunningSandbox
from tests.fixtures.mail import Mailbox, deliver, make_message
from tests.fixtures.service import Service, lock_expired, service_env, wait_until

ANN = "ann@buyer.test"
CANCEL_ORDERS = ["3042417938137135", "3042417938137200", "3042417938137201"]


@pytest.fixture
def rig(fresh_sandbox: RunningSandbox, mail_server: MailServer, tmp_path: Path, db_url: str
        ) -> Iterator[tuple[Store, Service, RunningSandbox]]:
    data = tmp_path / "data"
    data.mkdir()
    acc = next(a for a in fresh_sandbox.scenario.accounts if a.email == ANN)
    env = service_env(fresh_sandbox, mail_server, data,
                      RECOUP_SECRET_ANN_PASSWORD=acc.password, RECOUP_SECRET_ANN_MAILBOX=acc.mailbox_password,
                      RECOUP_DATABASE_URL=db_url)
    store = Store.open(db_url)
    store.accounts.add(Account(name="ann", email=ANN, password_ref="env:RECOUP_SECRET_ANN_PASSWORD",
                               mailbox_password_ref="env:RECOUP_SECRET_ANN_MAILBOX"))
    service = Service(env, tmp_path / "service.log")
    try:
        yield store, service, fresh_sandbox
    finally:
        service.stop()
        store.close()


def queue_cancels(store: Store) -> list[int]:
    return [store.intake.create_with(NewCase(account="ann", order_id=o, kind=CaseKind.CANCEL,
                                       reason="not_shipped_on_time", message="please cancel")).id
            for o in CANCEL_ORDERS]


def reached_submitted(store: Store, case_id: int) -> bool:
    """The case got to `submitted` (a status check may have moved it on since: the unpaid order's
    cancellation is final at once, and the service reads it back as approved)."""
    return any(e.to_state is CaseState.SUBMITTED for e in store.cases.history(case_id))


def states(store: Store, ids: list[int]) -> list[CaseState]:
    return [store.cases.get(i).state for i in ids]


@pytest.mark.parametrize(
    ("db_url", "point"),
    [
        ("sqlite", "submit.before_click@2"),
        ("sqlite", "submit.after_click@2"),
        # PostgreSQL: the kill after the click (the reconcile path) is the representative point;
        # a kill before the click is covered there by tests/engine (test_crash_before_click_...).
        pytest.param("postgres", "submit.after_click@2", marks=pytest.mark.postgres),
    ],
    indirect=["db_url"],
)
def test_sigkill_around_the_submit_click(rig: tuple[Store, Service, RunningSandbox], point: str) -> None:
    store, service, sb = rig
    ids = queue_cancels(store)
    proc = service.start(failpoints=point)
    assert proc.wait(timeout=240) == -9, service.log.read_text()[-3000:]

    in_flight = [s for s in states(store, ids) if s is CaseState.SUBMITTING]
    assert len(in_flight) == 1, states(store, ids)  # the second case died around its click

    wait_until(lambda: lock_expired(store), 30, "the dead scheduler's lock to expire")
    service.start()
    wait_until(lambda: all(reached_submitted(store, i) for i in ids), 240,
               "every case to be submitted after the restart")
    assert service.stop() == 0
    for order_id in CANCEL_ORDERS:
        assert sb.admin.submissions(order_id)["count"] == 1, order_id
    kinds = [e.kind for i in ids for e in store.cases.history(i)]
    assert kinds.count("submit_intent") == 3
    assert store.cases.leased() == []


def test_sigkill_in_the_middle_of_a_mail_batch(rig: tuple[Store, Service, RunningSandbox],
                                               mailbox: Mailbox) -> None:
    """Six portal mails; the service dies right after committing the third. After the restart
    every mail has been applied exactly once: nothing lost, nothing repeated."""
    store, service, sb = rig
    with store.engine.begin() as connection:  # this account reads the test's own fresh mailbox
        connection.execute(update(AccountRow).where(AccountRow.name == "ann")
                           .values(mailbox_user=mailbox.email))
    service.env["RECOUP_SECRET_ANN_MAILBOX"] = mailbox.password
    service.env["RECOUP_STATUS_POLL_INTERVAL_SECONDS"] = "3600"  # mail only: no portal reads
    ids = queue_cancels(store)
    for order_id in CANCEL_ORDERS:  # the portal shows the requests a status check would read
        sb.admin.set_order_status(order_id, "cancel_requested", mail=False)
    for case_id in ids:  # as if submitted earlier
        store.cases.claim(case_id, "earlier-run", lease_seconds=60)
        store.cases.mark_submit_intent(case_id, "earlier-run")
        store.cases.transition(case_id, CaseState.SUBMITTED, expected_from=CaseState.SUBMITTING)
    sender = "AliExpress <transaction@notice.aliexpress.com>"
    for order_id in CANCEL_ORDERS:
        for subject in (f"Your order {order_id} is closed", f"Order {order_id}: Ready to ship"):
            deliver(mailbox.server, mailbox.email,
                    make_message(subject, f"See tradeOrderId={order_id}", sender=sender))

    proc = service.start(failpoints="mail.mid_batch@3")
    assert proc.wait(timeout=180) == -9, service.log.read_text()[-3000:]
    assert processed(store) == 3

    wait_until(lambda: lock_expired(store), 30, "the dead scheduler's lock to expire")
    service.start()
    wait_until(lambda: processed(store) == 6, 120, "all six mails to be processed")
    assert service.stop() == 0
    assert processed(store) == 6
    checks = [e for i in ids for e in store.cases.history(i) if e.kind == "status_check_requested"]
    assert len(checks) == 6  # one per mail: none repeated after the restart
    assert states(store, ids) == [CaseState.SUBMITTED] * 3  # the closed mail never approves


def processed(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ProcessedMessageRow)).scalar_one())
