"""Scenario files: the demo and test scenarios hold what the issue asks for; bad files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sandbox.classes import ClassNames
from sandbox.scenario import STATUSES, load_scenario


def test_demo_scenario() -> None:
    demo = load_scenario("demo")
    assert len(demo.accounts) == 4  # three buyers plus one behind a slider challenge (the demo's human case)
    assert [a.challenge != "none" for a in demo.accounts].count(True) == 1
    assert [a.locale for a in demo.accounts].count("de_DE") == 1
    orders = demo.orders()
    assert len(orders) >= 60
    assert {o.status for o in orders} == set(STATUSES)
    assert all(15 <= len(o.id) <= 19 and o.id.isdigit() for o in orders)
    assert load_scenario("demo").orders() == orders  # generation is deterministic


def test_test_scenario_covers_the_cases() -> None:
    sc = load_scenario("test")
    for acc in sc.accounts:
        assert {o.status for o in acc.orders} == set(STATUSES), acc.email
    assert any(a.locale == "de_DE" for a in sc.accounts)
    assert any(a.login_code != "never" for a in sc.accounts)
    assert any(a.totp_secret for a in sc.accounts)
    assert any(a.challenge != "none" for a in sc.accounts)
    behaviours = (
        {o.seller.refund for o in sc.orders(status="awaiting_delivery")}
        | {o.seller.refund for o in sc.orders(status="awaiting_feedback")}
        | {o.seller.refund for o in sc.orders(status="completed")}
    )
    assert {"accept", "reject", "counter", "escalate", "no_answer"} <= behaviours


def test_bad_scenarios_are_refused(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "accounts:\n"
        "  - {email: a@x.test, password: p, orders: ["
        "{id: '3000000000000001', status: closed, items: [{name: n, price: 1}]}, "
        "{id: '3000000000000001', status: closed, items: [{name: n, price: 1}]}]}\n"
    )
    with pytest.raises(ValidationError, match="duplicate order id"):
        load_scenario(dup)
    bad_status = tmp_path / "bad.yaml"
    bad_status.write_text("accounts:\n  - {email: a@x.test, password: p, generate: [{statuses: [lost]}]}\n")
    with pytest.raises(ValidationError):
        load_scenario(bad_status)


def test_class_names() -> None:
    a, b = ClassNames(None, "a"), ClassNames(None, "a")
    assert a.module("reminder--statusStr") != b.module("reminder--statusStr")
    name = ClassNames("seed", "a").module("reminder--statusStr")
    assert name == ClassNames("seed", "b").module("reminder--statusStr")
    assert name.startswith("reminder--statusStr--") and len(name.rsplit("--", 1)[1]) == 7
    assert ClassNames("s", "b").plain("info-row") == "order-info-line"
    assert ClassNames("s", "a").plain("info-row") == "info-row"
