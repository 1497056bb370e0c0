"""`recoup mail classify|unrecognised|reclassify` without the sandbox: saved .eml files, hostile
ones included, read with the shipped pack; bad files exit 2; text printed literally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app
from bot.config import Settings
from bot.models import Account, CaseKind, NewCase
from bot.store import Store
from tests.fixtures.mail import make_message
from tests.mail.hostile import HOSTILE

OID = "3042417938137135"
PORTAL = "AliExpress <transaction@notice.aliexpress.com>"


def recoup(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    return result


def recoup_json(*args: str, code: int = 0) -> Any:
    return json.loads(recoup(*args, "--json", code=code).stdout)


def _eml(tmp_path: Path, name: str, raw: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def _store_with_case() -> tuple[int, Path]:
    settings = Settings()
    settings.ensure_dirs()
    with Store.open(settings.resolved_database_url) as store:
        store.accounts.add(
            Account(name="alice", email="alice@example.test", password_ref="env:RECOUP_SECRET_A")
        )
        case = store.intake.create_with(
            NewCase(account="alice", order_id=OID, kind=CaseKind.CANCEL, reason="changed_mind")
        )
    return case.id, settings.data_dir / "recoup.db"


def test_classify_reads_sender_ids_event_and_the_case_it_would_check(tmp_path: Path) -> None:
    case_id, _db = _store_with_case()
    genuine = _eml(
        tmp_path, "ok.eml", make_message(f"Order {OID}: Cancellation approved", "Approved.", sender=PORTAL)
    )
    data = recoup_json("mail", "classify", str(genuine))
    [one] = data["files"]
    assert (one["accepted"], one["kind"], one["order_ids"]) == (True, "cancel_approved", [OID])
    assert "pack's sender transaction@notice.aliexpress.com" in one["why"]
    assert one["effects"] == [
        {
            "case_id": case_id,
            "account": "alice",
            "order_id": OID,
            "kind": "cancel",
            "state": "queued",
            "status_check": True,
            "hint": "approved",
            "may_move_to": None,
        }
    ]
    text = recoup("mail", "classify", str(genuine)).stdout
    assert "accepted as the portal's: yes" in text and f"case {case_id} (alice, cancel, queued)" in text
    assert "hint approved" in text


def test_classify_hostile_mail_says_why_without_a_traceback(tmp_path: Path) -> None:
    forged = _eml(
        tmp_path,
        "forged.eml",
        (
            f"From: transaction@notice.aliexpress.com <evil@x.test>\r\n"
            f"Subject: Order {OID}: Cancellation approved\r\n"
            "\r\nbody\r\n"
        ).encode(),
    )
    spoof = _eml(
        tmp_path,
        "spoof.eml",
        make_message(f"Order {OID}: Refund complete", "x", sender="AliExpress <someone@else.test>"),
    )
    huge = _eml(
        tmp_path,
        "huge.eml",
        make_message(f"Order {OID}: Cancellation approved", "A" * (9 * 1024 * 1024), sender=PORTAL),
    )
    markup = _eml(
        tmp_path, "markup.eml", make_message("[bold red]Order[/] \x1b[31m pwned", "x", sender=PORTAL)
    )
    hostile = [_eml(tmp_path, f"h{n}.eml", raw) for n, raw in enumerate(HOSTILE.values())]

    data = recoup_json(
        "mail", "classify", str(forged), str(spoof), str(huge), str(markup), *map(str, hostile)
    )

    by_file = {Path(r["file"]).name: r for r in data["files"]}
    assert by_file["forged.eml"]["accepted"] is False and by_file["forged.eml"]["kind"] == "not_portal"
    assert "missing, repeated, names several mailboxes or is malformed" in by_file["forged.eml"]["why"]
    assert (
        by_file["spoof.eml"]["accepted"] is False
        and "someone@else.test is not" in by_file["spoof.eml"]["why"]
    )
    assert by_file["huge.eml"]["truncated"] is True and by_file["huge.eml"]["kind"] == "cancel_approved"
    assert by_file["markup.eml"]["kind"] == "unrecognised"
    assert data["bad_files"] == sum(1 for r in data["files"] if "error" in r)
    assert all(r["effects"] == [] for r in data["files"] if "error" not in r)
    assert data["store"].startswith("no store")

    text = recoup("mail", "classify", str(markup), str(huge)).stdout
    assert "[bold red]Order[/] \\x1b[31m pwned" in text  # literally, control character escaped
    assert "larger than Recoup reads" in text
    assert not (Settings().data_dir / "recoup.db").exists()  # read-only: no store created


@pytest.mark.parametrize("kind", ["missing", "folder", "empty"])
def test_a_bad_file_exits_2_after_showing_the_good_ones(tmp_path: Path, kind: str) -> None:
    good = _eml(tmp_path, "ok.eml", make_message(f"Order {OID}: Delivered", "x", sender=PORTAL))
    bad = tmp_path / "bad.eml"
    if kind == "folder":
        bad.mkdir()
    elif kind == "empty":
        bad.write_bytes(b"")
    data = recoup_json("mail", "classify", str(good), str(bad), code=2)
    assert data["bad_files"] == 1 and data["files"][0]["kind"] == "delivered"
    assert str(bad) in data["files"][1]["error"]
    result = recoup("mail", "classify", str(bad), code=2)
    assert "could not be read as mail" in result.output


def test_unrecognised_and_reclassify_on_an_empty_store() -> None:
    assert recoup_json("mail", "unrecognised") == {"count": 0, "pending": 0, "mails": []}
    assert recoup_json("mail", "reclassify") == {"changed": [], "applied": 0, "still_unrecognised": 0}
    assert "0 unrecognised portal mail(s) kept" in recoup("mail", "unrecognised").stdout
    assert (
        recoup_json("mail", "unrecognised", "--account", "nobody", code=2)["error"] == "UnknownAccountError"
    )
