"""One-off commands through the whole stack: they run now and print the outcome, or queue when
the service holds the store's scheduler lock; `status`, `cases ...` and `evidence` read back."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from bot.models import CaseKind, NewCase
from bot.states import CaseState
from bot.store import Store
from tests.cli.conftest import Cli, on_database


@pytest.fixture
def cli(cli: Cli, db_url: str) -> Cli:
    """Every test here runs on SQLite and on PostgreSQL."""
    return on_database(cli, db_url)

CANCEL = ("--account", "ann", "--reason", "not_shipped_on_time")


def test_cancel_runs_now_then_status_show_evidence(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    out = cli.json("cancel", "3042417938137200", *CANCEL, "--comment", "Please cancel.")
    assert out["state"] == "submitted" and out["ran"] is True and out["exit_code"] == 0
    assert cli.submissions("3042417938137200") == 1
    assert out["report"] and out["report"].endswith("report.html")

    status = cli.json("status", "3042417938137200")
    assert [c["id"] for c in status] == [out["id"]]
    human = cli("status", "--account", "ann")
    assert "3042417938137200" in human.stdout and "submitted" in human.stdout

    shown = cli.json("cases", "show", str(out["id"]))
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds.index("submit_intent") < kinds.index("submitted")

    evidence = cli.json("evidence", str(out["id"]), "--html", "--zip")
    assert evidence["problems"] == []
    html = (cli.data / "evidence" / f"case-{out['id']}" / "report.html").read_text()
    assert "3042417938137200" in html
    with zipfile.ZipFile(evidence["bundle"]) as bundle:
        names = bundle.namelist()
    assert {"report.html", "manifest.json", "SHA256SUMS"} <= set(names)
    assert any(n.endswith((".jpg", ".png")) for n in names)  # screenshots (JPEG by default)

    cli.sb.admin.advance(3700)  # the seller approves after an hour
    refreshed = cli.json("status", "3042417938137200", "--refresh")
    assert refreshed[0]["state"] == "approved"


def test_refund_with_evidence_runs_now(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli("accounts", "login", "ann")  # the dispute-share cap needs the account's order count
    photos = [cli.photo("a.png"), cli.photo("b.png")]
    out = cli.json(
        "refund",
        "3042417938137300",
        "--account",
        "ann",
        "--reason",
        "not_received",
        "--amount",
        "4.10",
        "--message",
        "Tracking says returned to sender.",
        "--type",
        "refund",
        "--evidence",
        str(photos[0]),
        "--evidence",
        str(photos[1]),
    )
    assert out["state"] == "submitted" and out["amount"] == "4.10" and out["exit_code"] == 0
    assert cli.submissions("3042417938137300") == 1
    uploads = [e for e in cli.json("cases", "show", str(out["id"]))["evidence"] if e["kind"] == "upload"]
    assert len(uploads) >= 2


def test_not_eligible_exits_4_and_challenge_exits_3(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli.add_account("erik", "erik@buyer.test")
    shipped = cli("cancel", "3042417938137300", *CANCEL, code=4)  # awaiting delivery: no cancel
    assert "failed" in shipped.stdout and "cannot be canceled" in shipped.stdout
    erik = cli.sb.scenario.account("erik@buyer.test")
    order = next(o for o in erik.orders if o.status == "awaiting_shipment")
    human = cli.json("cancel", order.id, "--account", "erik", "--reason", "not_shipped_on_time", code=3)
    assert human["state"] == "needs_human" and "slider" in human["outcome_note"]
    # the person is told what to do next: solve it headed, then retry; and where the screenshot is
    assert f"`recoup accounts login erik --headed`, then `recoup cases retry {human['id']}`" in human["next"]
    shot = re.search(r"screenshot: (\S+\.(?:jpg|png))", human["next"])
    assert shot and Path(shot.group(1)).is_file(), human["next"]
    assert cli.submissions(order.id) == 0 and cli.submissions("3042417938137300") == 0

    # The operator solved the slider: retry runs it again, now through.
    cli.sb.admin.clear_challenge("erik@buyer.test")
    retried = cli.json("cases", "retry", str(human["id"]))
    assert retried["state"] == "submitted" and cli.submissions(order.id) == 1


def test_queues_instead_of_running_while_the_service_holds_the_lock(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli("accounts", "list")  # creates the store
    with Store.open(cli.db_url) as store:
        store.scheduler_lock.acquire("other-host:1234", ttl_seconds=300)
    out = cli.json("cancel", "3042417938137200", *CANCEL)
    assert out["state"] == "queued" and out["ran"] is False
    assert "service" in out["note"]
    assert cli.submissions("3042417938137200") == 0
    busy = cli("run", code=7)
    assert "other-host:1234" in busy.output

    withdrawn = cli.json("cases", "cancel", str(out["id"]))
    assert withdrawn["state"] == "canceled_by_operator"
    assert cli("cases", "cancel", str(out["id"]), code=2).exit_code == 2  # final: nothing to withdraw


def test_refresh_while_the_service_runs_asks_the_service_for_a_check(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli("accounts", "list")  # creates the store
    with Store.open(cli.db_url) as store:
        store.scheduler_lock.acquire("other-host:1234", ttl_seconds=300)
        case = store.intake.create_with(NewCase(account="ann", order_id="3042417938137200",
                                                kind=CaseKind.CANCEL, reason="not_shipped_on_time"))
        store.cases.claim(case.id, "earlier-run", lease_seconds=60)
        store.cases.mark_submit_intent(case.id, "earlier-run")
        store.cases.transition(case.id, CaseState.SUBMITTED, expected_from=CaseState.SUBMITTING)
    loads_before = cli.sb.admin.page_loads().get("ann@buyer.test")
    refreshed = cli.json("status", "3042417938137200", "--refresh")
    assert refreshed[0]["state"] == "submitted"
    assert cli.sb.admin.page_loads().get("ann@buyer.test") == loads_before  # the service reads, not us
    with Store.open(cli.db_url) as store:
        asked = [e for e in store.cases.history(case.id) if e.kind == "status_check_requested"]
        assert [e.detail for e in asked] == [{"requested_by": "operator"}]
        assert store.tracking.tracking(case.id).check_due_at is not None


def test_approve_first_then_approve_runs_it(cli: Cli) -> None:
    cli.monkeypatch.setenv("RECOUP_APPROVE_FIRST", "true")
    cli.add_account("ann", "ann@buyer.test")
    waiting = cli.json("cancel", "3042417938137200", *CANCEL)
    assert waiting["state"] == "awaiting_approval" and cli.submissions("3042417938137200") == 0
    approved = cli.json("cases", "approve", str(waiting["id"]))
    assert approved["state"] == "submitted" and cli.submissions("3042417938137200") == 1
    assert cli("cases", "approve", str(waiting["id"]), code=2).exit_code == 2


def test_list_and_export(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    for order in ("3042417938137200", "3042417938137201"):
        cli("cancel", order, *CANCEL, "--queue")
    listed = cli.json("cases", "list", "--state", "queued")
    assert [c["order_id"] for c in listed] == ["3042417938137200", "3042417938137201"]
    assert cli.json("cases", "list", "--state", "submitted") == []

    as_json = json.loads(cli("cases", "export", "--format", "json").stdout)
    assert {r["order_id"] for r in as_json} == {"3042417938137200", "3042417938137201"}
    target = cli.tmp / "cases.csv"
    cli("cases", "export", "--format", "csv", "--output", str(target))
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [r["state"] for r in rows] == ["queued", "queued"]
    assert cli("cases", "show", "999", code=2).exit_code == 2
