"""One validation path for a refund's amount, however the case is filed, and honest answers from
a one-off on a busy account (issue 13, findings 6 and 7).

* The amount is parsed strictly (`1e9`, `1_000`, `NaN` refused with exit 2, nothing written),
  also with `--queue`, and a queued refund's amount is checked against the order total before
  anything is written when the account is free.
* A queued refund whose total could not be read (the service held the store) is checked by the
  service right before the submit: the case fails with "amount above order total" and the
  portal never sees a request.
* A one-off on an account another process is using never drives its browser: it waits (bounded,
  with a message on stderr) and runs when the account comes free, or leaves the case queued and
  says so: `"ran": false, "queued": true`, exit 8.

Sandbox orders of ann: 3042417938137301 totals US $15.00 (refund possible); 304241793813720x
can be cancelled.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.states import CaseState
from bot.store import Store
from tests.cli.conftest import Cli
from tests.fixtures.service import REPO, Service, service_env, wait_until

REFUND = ("refund", "3042417938137301", "--account", "ann", "--reason", "not_received",
          "--message", "Never arrived.")  # fmt: skip
CANCEL = ("--account", "ann", "--reason", "not_shipped_on_time")
QUEUED_NOT_RUN = 8


def _refused(cli: Cli, *args: str, message: str) -> None:
    before, folders = cli.counts(), cli.case_folders()
    error = cli.json(*args, code=2)
    assert error["exit_code"] == 2 and error["error"] == "AmountError", error
    assert message in error["message"], error
    assert cli.counts() == before and cli.case_folders() == folders == []


@pytest.mark.parametrize("amount", ["1e9", "1E2", "1_000", "NaN", "Infinity", "１２", "1,000.00", "+5"])
def test_amount_is_parsed_strictly_also_when_only_queued(ann: Cli, amount: str) -> None:
    _refused(ann, *REFUND, "--amount", amount, "--queue", message="is not a number like 12.50")
    _refused(ann, *REFUND, "--amount", amount, message="is not a number like 12.50")
    assert ann.submissions("3042417938137301") == 0


def test_queued_refund_above_the_total_is_refused_before_anything_is_written(ann: Cli) -> None:
    _refused(ann, *REFUND, "--amount", "99.00", "--queue", message="amount above order total")
    fine = ann.json(*REFUND, "--amount", "15.00", "--queue")
    assert fine["state"] == "queued" and fine["ran"] is False and fine["queued"] is True
    assert ann.submissions("3042417938137301") == 0


def test_service_checks_an_unchecked_amount_before_the_click(ann: Cli) -> None:
    """Filed while the service held the store (no portal read at intake), the over-total refund is
    stored; the service reads the total before opening the form and fails the case clearly."""
    with Store.open(ann.db_url) as store:
        store.scheduler_lock.acquire("other-host:1234", ttl_seconds=300)
    loads = ann.sb.admin.page_loads().get("ann@buyer.test", {}).get("page", 0)
    queued = ann.json(*REFUND, "--amount", "99.00")
    assert queued["state"] == "queued" and queued["ran"] is False
    assert ann.sb.admin.page_loads().get("ann@buyer.test", {}).get("page", 0) == loads  # no portal read

    acc = ann.sb.scenario.account("ann@buyer.test")
    env = service_env(ann.sb, ann.mail, ann.data, RECOUP_SECRET_ANN_PASSWORD=acc.password,
                      RECOUP_SECRET_ANN_MAILBOX=acc.mailbox_password, **ann.db_env)  # fmt: skip
    service = Service(env, ann.tmp / "service.log")
    with Store.open(ann.db_url) as store:
        store.scheduler_lock.release("other-host:1234")
        service.start()
        try:
            ran = (CaseState.QUEUED, CaseState.RUNNING)
            wait_until(lambda: store.cases.get(queued["id"]).state not in ran, 120, "the service to run it")
        finally:
            assert service.stop() == 0, service.tail()
        case = store.cases.get(queued["id"])
        kinds = [e.kind for e in store.cases.history(case.id)]
    assert case.state is CaseState.FAILED, (case, service.tail())
    assert case.outcome_note and "amount above order total" in case.outcome_note
    assert "above the total 15.00" in case.outcome_note
    assert "submit_intent" not in kinds
    assert not any(ann.sb.admin.requests_sent("3042417938137301").values())
    assert ann.submissions("3042417938137301") == 0
    assert queued["queued"] is True and "checked against the order total" in queued["note"]


def _busy(cli: Cli) -> int:
    """Another process runs one of ann's cases: a queued case leased by someone else."""
    other = cli.json("cancel", "3042417938137202", *CANCEL, "--queue")
    with Store.open(cli.db_url) as store:
        claimed = store.cases.claim(other["id"], "other-host-4321", lease_seconds=300)
    assert claimed is not None and claimed.state is CaseState.RUNNING
    return int(other["id"])


def test_one_off_on_a_busy_account_says_it_was_queued_not_run(ann: Cli) -> None:
    busy = _busy(ann)
    ann.monkeypatch.setenv("RECOUP_ACCOUNT_WAIT_SECONDS", "1")
    loads = ann.sb.admin.page_loads().get("ann@buyer.test", {}).get("page", 0)

    result = ann("cancel", "3042417938137200", *CANCEL, "--json", code=QUEUED_NOT_RUN)
    out = json.loads(result.stdout)
    assert out["ran"] is False and out["queued"] is True and out["state"] == "queued"
    assert out["exit_code"] == QUEUED_NOT_RUN
    assert f"case {busy} running" in out["note"] and "no service is running" in out["note"]
    assert f"account ann is busy (case {busy} running); waiting up to 1 s" in result.stderr

    # A refund's amount check does not drive the busy account's browser either.
    refund = ann.json(*REFUND, "--amount", "99.00", code=QUEUED_NOT_RUN)
    assert refund["ran"] is False and refund["queued"] is True
    assert "checked against the order total" in refund["note"]
    assert ann.sb.admin.page_loads().get("ann@buyer.test", {}).get("page", 0) == loads
    assert ann.submissions("3042417938137200") == 0 and ann.submissions("3042417938137301") == 0


def test_one_off_waits_for_a_busy_account_then_runs(ann: Cli) -> None:
    busy = _busy(ann)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "cancel", "3042417938137200", *CANCEL, "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(1)]
        while "waiting up to" not in lines[-1] and lines[-1] and len(lines) < 50:
            lines.append(proc.stderr.readline())  # (warnings could come first)
        assert f"account ann is busy (case {busy} running); waiting up to 60 s" in lines[-1], lines
        with Store.open(ann.db_url) as store:
            store.cases.release_lease(busy, "other-host-4321")
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = json.loads(stdout)
    assert proc.returncode == 0, stderr
    assert out["ran"] is True and out["state"] == "submitted" and out["queued"] is False
    assert ann.submissions("3042417938137200") == 1
