"""`recoup orders` lists an account's orders with numbered item lines; `recoup refund --item N`
files one line, its amount held against that line's price; evidence types come from the pack.

Through the whole stack: the CLI in-process, the session's sandbox, real Chromium and SQLite.
Bad input (a line the order does not have, an amount above the line's price, a video type the
portal refuses) exits 2 and writes nothing: no row, no folder, no submission.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from tests.cli.conftest import Cli

ORDER = "3042417938137300"  # ann, awaiting delivery: line 1 US $4.10, line 2 US $21.50
REFUND = ("--account", "ann", "--reason", "not_received", "--message", "Line 2 never arrived.")


def _ann(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    cli("accounts", "login", "ann")  # the dispute-share cap needs the account's order count


def test_orders_lists_lines_totals_and_what_can_be_filed(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    before = cli.counts()
    rows = cli.json("orders", "ann")
    scenario = cli.sb.scenario.account("ann@buyer.test")
    assert {r["order_id"] for r in rows} == {o.id for o in scenario.orders}  # every batch read
    by_id = {r["order_id"]: r for r in rows}

    two = by_id[ORDER]
    spec = next(o for o in scenario.orders if o.id == ORDER)
    assert [(i["line"], i["name"], i["quantity"], i["price"]) for i in two["items"]] == [
        (1, "Phone Case for Galaxy S23", 1, {"amount": "4.10", "currency": "USD"}),
        (2, "Mechanical Keyboard Keycaps Set", 1, {"amount": "21.50", "currency": "USD"}),
    ]
    assert two["total"] == {"amount": f"{spec.total:.2f}", "currency": "USD"}
    assert two["store"] == "Baseus Global Store" and two["status"] == "awaiting_delivery"
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", two["date"] or "")
    assert two["can_file"] == "refund"

    quantity = by_id["3042417938137135"]["items"]  # 2 x US $3.49: the line cost 6.98
    assert quantity[0]["quantity"] == 2 and quantity[0]["amount"] == {"amount": "6.98", "currency": "USD"}
    assert by_id["3042417938137200"]["can_file"] == "cancel"  # awaiting shipment
    assert by_id["3042417938137135"]["can_file"] == "cancel"  # awaiting payment
    assert by_id["3042417938137403"]["can_file"] == "nothing"  # canceled
    assert by_id["3042417938137401"]["can_file"] == "refund"  # in dispute: other lines still can
    assert cli.counts() == before and cli.case_folders() == []  # read-only

    human = cli("orders", "ann", "--limit", "8")  # the newest 8 include ORDER (12 days old)
    assert ORDER in human.stdout and "Mechanical Keyboard Keycaps Set" in human.stdout
    assert "US $21.50" in human.stdout and "refund" in human.stdout
    assert len(cli.json("orders", "ann", "--limit", "3")) == 3


def test_orders_of_an_unknown_account_exits_2(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    out = cli.json("orders", "nobody", code=2)
    assert out["error"] == "UnknownAccountError"


def test_partial_refund_of_line_two_files_line_two_once(cli: Cli) -> None:
    _ann(cli)
    photo = cli.photo("box.png")
    out = cli.json("refund", ORDER, *REFUND, "--amount", "15.00", "--item", "2", "--evidence", str(photo))
    assert out["state"] == "submitted" and out["exit_code"] == 0
    assert out["item_line"] == 2 and out["amount"] == "15.00"

    counts = cli.sb.admin.submissions(ORDER)
    assert counts["count"] == 1
    assert {k: v["count"] for k, v in counts["by_item"].items()} == {"2": 1}
    refunds = cli.sb.admin.order(ORDER)["refunds"]
    assert set(refunds) == {"2"} and Decimal(str(refunds["2"]["amount"])) == Decimal("15.00")

    shown = cli.json("cases", "show", str(out["id"]))
    assert shown["item_line"] == 2
    intents = [e["detail"] for e in shown["events"] if e["kind"] == "submit_intent"]
    assert [d.get("item_index") for d in intents] == [1]  # the flow's 0-based index of line 2
    assert "item line 2" in cli("cases", "show", str(out["id"])).stdout
    report = Path(out["report"]).read_text(encoding="utf-8")
    assert "Item line" in report


def test_a_line_the_order_does_not_have_exits_2_and_writes_nothing(cli: Cli) -> None:
    _ann(cli)
    photo = cli.photo("box.png")
    before = cli.counts()
    out = cli.json("refund", ORDER, *REFUND, "--amount", "1.00", "--item", "9", "--evidence", str(photo),
                   code=2)
    assert "2 item line(s)" in out["message"] and "no line 9" in out["message"]
    assert cli.counts() == before and cli.case_folders() == []
    assert cli.submissions(ORDER) == 0
    zero = cli.json("refund", ORDER, *REFUND, "--amount", "1.00", "--item", "0", code=2)
    assert "item line" in zero["message"] and cli.counts() == before


def test_an_amount_above_the_lines_price_exits_2_and_writes_nothing(cli: Cli) -> None:
    _ann(cli)
    before = cli.counts()
    # 22.00 is below the order total (25.60) but above what line 2 cost (21.50)
    out = cli.json("refund", ORDER, *REFUND, "--amount", "22.00", "--item", "2",
                   "--evidence", str(cli.photo("box.png")), code=2)
    assert out["error"] == "AmountError" and "item line 2" in out["message"] and "21.50" in out["message"]
    assert cli.counts() == before and cli.case_folders() == []
    assert cli.submissions(ORDER) == 0


def test_a_video_type_the_portal_refuses_exits_2_naming_the_allowed_types(cli: Cli) -> None:
    cli.add_account("ann", "ann@buyer.test")
    before = cli.counts()
    clip = cli.tmp / "unboxing.avi"
    clip.write_bytes(b"RIFF" + b"\0" * 200)
    out = cli.json("refund", ORDER, *REFUND, "--amount", "1.00", "--evidence", str(clip), code=2)
    assert out["error"] == "EvidenceError"
    assert "'.avi'" in out["message"] and ".mp4" in out["message"] and ".mov" in out["message"]
    assert cli.counts() == before and cli.case_folders() == []
