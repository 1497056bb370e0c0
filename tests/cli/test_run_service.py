"""`recoup run` as an operator starts it (a subprocess): it runs queued cases, and SIGTERM stops it
cleanly — exit 0, in-flight work finished or its lease released, the scheduler lock given back."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from bot.states import CaseState
from bot.store import Store
from tests.cli.conftest import Cli, on_database
from tests.fixtures.service import REPO, Service, lock_expired, service_env, wait_until


@pytest.fixture
def cli(cli: Cli, db_url: str) -> Cli:
    """Every test here runs on SQLite and on PostgreSQL."""
    return on_database(cli, db_url)


def test_run_works_the_queue_and_stops_cleanly_on_sigterm(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    first = cli.json(
        "cancel", "3042417938137200", "--account", "ann", "--reason", "not_shipped_on_time", "--queue"
    )
    second = cli.json(
        "cancel", "3042417938137201", "--account", "ann", "--reason", "not_shipped_on_time", "--queue"
    )
    acc = cli.sb.scenario.account("ann@buyer.test")
    env = service_env(
        cli.sb,
        cli.mail,
        cli.data,
        RECOUP_SECRET_ANN_PASSWORD=acc.password,
        RECOUP_SECRET_ANN_MAILBOX=acc.mailbox_password,
        **cli.db_env,
    )
    service = Service(env, cli.tmp / "service.log")
    service.start()
    with Store.open(cli.db_url) as store:
        try:
            wait_until(
                lambda: store.cases.get(first["id"]).state is CaseState.SUBMITTED,
                120,
                "the service to submit the first case",
            )
            wait_until(
                lambda: store.cases.get(second["id"]).state is not CaseState.QUEUED,
                60,
                "the service to start the second case",
            )
            assert not lock_expired(store)  # a live scheduler holds the lock
            # A one-off command now only queues, since the service is running.
            third = cli.json("cancel", "3042417938137202", "--account", "ann", "--reason", "out_of_stock")
            assert third["ran"] is False and third["state"] == "queued"
        finally:
            code = service.stop()  # SIGTERM mid-run (the second case is in flight or just done)
        assert code == 0, service.tail()
        assert "stopped cleanly" in service.tail()
        assert store.scheduler_lock.holder() is None
        assert store.cases.leased() == []
        states = {c.id: c.state for c in store.cases.list_cases()}
        assert states[second["id"]] in (CaseState.QUEUED, CaseState.SUBMITTED)
        assert states[third["id"]] in (CaseState.QUEUED, CaseState.SUBMITTED)
    assert cli.submissions("3042417938137200") == 1
    assert cli.submissions("3042417938137201") <= 1


def test_run_stops_on_sigint_too(cli: Cli) -> None:
    cli("accounts", "list")  # creates the store
    env = service_env(cli.sb, cli.mail, cli.data, **cli.db_env)
    log = cli.tmp / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    with Store.open(cli.db_url) as store:
        try:
            wait_until(lambda: not lock_expired(store), 60, "the scheduler lock")
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=60)
        assert code == 0, log.read_text()
        assert store.scheduler_lock.holder() is None
