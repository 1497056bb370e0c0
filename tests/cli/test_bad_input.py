"""Every bad input ends with a clear message, exit code 2 and nothing written: no account, case,
event, evidence or attempt row and no evidence folder (counted before and after)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.cli.conftest import Cli

REFUND = ("--reason", "not_received", "--message", "Never arrived.")


def _refused(cli: Cli, *args: str, message: str) -> dict[str, object]:
    before, folders = cli.counts(), cli.case_folders()
    result = cli(*args, "--json", code=2)
    error = json.loads(result.stdout)
    assert error["exit_code"] == 2 and message in str(error["message"]), error
    assert cli.counts() == before
    assert cli.case_folders() == folders == []
    human = cli(*args, code=2)  # the same without --json: one readable line on stderr
    assert message in human.stderr and human.stdout == ""
    assert cli.counts() == before
    return error


def test_unknown_account(ann: Cli) -> None:
    _refused(
        ann,
        "cancel",
        "3042417938137200",
        "--account",
        "nobody",
        "--reason",
        "not_shipped_on_time",
        message="no account named 'nobody'",
    )


def test_malformed_order_id(ann: Cli) -> None:
    _refused(
        ann,
        "cancel",
        "30424-17938",
        "--account",
        "ann",
        "--reason",
        "not_shipped_on_time",
        message="order id must be 15-19 digits",
    )


def test_unknown_reason(ann: Cli) -> None:
    _refused(
        ann,
        "cancel",
        "3042417938137200",
        "--account",
        "ann",
        "--reason",
        "because",
        message="unknown reason 'because'",
    )


def test_missing_evidence(ann: Cli) -> None:
    _refused(
        ann,
        "refund",
        "3042417938137300",
        "--account",
        "ann",
        *REFUND,
        "--amount",
        "4.10",
        "--evidence",
        str(ann.tmp / "nope.png"),
        message="nope.png",
    )


def test_oversized_evidence(ann: Cli) -> None:
    big = ann.photo("big.png", size=3 * 1024 * 1024)
    error = _refused(
        ann,
        "refund",
        "3042417938137300",
        "--account",
        "ann",
        *REFUND,
        "--amount",
        "4.10",
        "--evidence",
        str(big),
        message="big.png",
    )
    assert error["error"] == "EvidenceError"


def test_amount_above_the_order_total(ann: Cli) -> None:
    """The total is read from the portal before anything is written (order total 15.00)."""
    error = _refused(
        ann,
        "refund",
        "3042417938137301",
        "--account",
        "ann",
        *REFUND,
        "--amount",
        "99.00",
        "--evidence",
        str(ann.photo("p.png")),
        message="above the total 15.00",
    )
    assert error["error"] == "AmountError"
    assert ann.submissions("3042417938137301") == 0


def test_amount_in_another_currency_than_the_total(ann: Cli) -> None:
    """4.10 EUR is not compared with the order's US $15.00 as if it were dollars (issue 8)."""
    error = _refused(
        ann,
        "refund",
        "3042417938137301",
        "--account",
        "ann",
        *REFUND,
        "--amount",
        "4.10 EUR",
        "--evidence",
        str(ann.photo("p.png")),
        message="refund amount is in EUR but the order total is in USD",
    )
    assert error["error"] == "AmountError"
    assert ann.submissions("3042417938137301") == 0


def test_amount_not_a_number_or_negative(ann: Cli) -> None:
    _refused(
        ann,
        "refund",
        "3042417938137301",
        "--account",
        "ann",
        *REFUND,
        "--amount",
        "lots",
        message="is not a number",
    )
    _refused(
        ann,
        "refund",
        "3042417938137301",
        "--account",
        "ann",
        *REFUND,
        "--amount",
        "-3",
        message="amount must be positive",
    )


def test_duplicate_case_points_to_the_existing_one(ann: Cli) -> None:
    first = ann.json(
        "cancel", "3042417938137200", "--account", "ann", "--reason", "not_shipped_on_time", "--queue"
    )
    before = ann.counts()
    result = ann("cancel", "3042417938137200", "--account", "ann", "--reason", "not_shipped_on_time", code=2)
    assert f"case {first['id']} already covers cancel" in result.stderr
    assert ann.counts() == before


def test_dispute_cap_refuses_without_a_known_order_count(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")  # never signed in: order count unknown
    _refused(
        cli,
        "refund",
        "3042417938137300",
        "--account",
        "ann",
        *REFUND,
        "--amount",
        "4.10",
        "--queue",
        message="no known order count",
    )


@pytest.mark.parametrize(
    "args",
    [
        ("cancel", "12x", "--account", "a", "--reason", "not_shipped_on_time"),
        ("cancel", "3042417938137200", "--account", "nobody", "--reason", "not_shipped_on_time"),
        ("refund", "3042417938137300", "--account", "a", *REFUND, "--amount", "-3"),
        ("refund", "3042417938137300", "--account", "a", *REFUND, "--amount", "lots"),
        ("cases", "show", "99"),
        ("cases", "retry", "3"),
        ("cases", "approve", "3"),
        ("cases", "cancel", "3"),
        ("accounts", "remove", "ghost"),
        ("accounts", "login", "ghost"),
        ("status", "3042417938137300"),
        ("evidence", "5", "--html"),
        ("selectors", "check", "--account", "ghost"),
    ],
    ids=[
        "order-id",
        "unknown-account",
        "negative-amount",
        "amount-not-a-number",
        "cases-show",
        "cases-retry",
        "cases-approve",
        "cases-cancel",
        "accounts-remove",
        "accounts-login",
        "status",
        "evidence",
        "selectors-check",
    ],
)
def test_bad_input_creates_nothing_in_a_new_data_folder(tmp_path: Path, args: tuple[str, ...]) -> None:
    new = tmp_path / "NEW"
    for extra in ((), ("--json",)):
        result = CliRunner().invoke(app, ["--data-dir", str(new), *args, *extra])
        assert result.exit_code == 2, result.output
        assert not new.exists(), sorted(p.name for p in new.rglob("*"))
