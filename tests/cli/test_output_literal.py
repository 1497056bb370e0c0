"""Stored, typed and portal text is printed literally (issue 13, finding 4): Rich markup, emoji
codes and odd Unicode appear exactly as stored, and control characters (ANSI escapes, carriage
return, bell, bidi override, C1) appear as visible escapes instead of reaching the terminal.

Every field a command prints for a person gets hostile text: account e-mail and locale, the
comment, outcome notes and event details (portal text), the last error, evidence file names,
the data folder, an export path, names in error messages, and the demo's summary table.
Offline: accounts added with `--no-check`, cases `--queue`d, outcomes written through the store.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import Result
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.config import Settings
from bot.states import CaseState
from bot.store import Store

MARKUP = "[/x] [link=https://evil]click[/link] [bold red]loud[/]"
"""Rich markup: a closing tag nothing opened (a crash on main), a link, a style."""
UNICODE = ":smile: é 漢字 🙂 مرحبا \\[b]x tail\\"
"""An emoji code, accents, CJK, an emoji, right-to-left text, backslashes next to brackets."""
CONTROL = "\x1b[31mred\x1b[0m\r\x07\u202eabc\x9b2J"
"""An ANSI colour and reset, carriage return, bell, right-to-left override, C1 CSI."""
CONTROL_SHOWN = "\\x1b[31mred\\x1b[0m\\x0d\\x07\\u202eabc\\x9b2J"
"""How CONTROL is printed: every control character as a visible escape."""
HOSTILE = {MARKUP: MARKUP, UNICODE: UNICODE, CONTROL: CONTROL_SHOWN}
"""Stored text → the exact text the operator must see."""
RAW_CONTROLS = ("\x1b", "\r", "\x07", "\u202e", "\x9b")

CANCEL = ("--reason", "not_shipped_on_time", "--queue")
ORDERS = ("304241793813710", "304241793813711", "304241793813712")


def _recoup(*args: str, code: int) -> Result:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    return result


def _assert_literal(text: str, *expected: str) -> None:
    for shown in expected:
        assert shown in text, f"{shown!r} not printed literally in:\n{text}"
    for raw in RAW_CONTROLS:
        assert raw not in text, f"raw control character {raw!r} reached the output"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder whose own path holds markup, three accounts and three queued cases whose
    comment, outcome note, event detail and last error hold the hostile texts."""
    folder = tmp_path / "data [link=https://evil]x[/link] [/y]"
    monkeypatch.setenv("RECOUP_DATA_DIR", str(folder))
    monkeypatch.setenv("COLUMNS", "1000")  # tables never wrap a cell: the text is checked whole
    for n, stored in enumerate(HOSTILE):
        name = f"acc{n}"
        _recoup("accounts", "add", name, "--email", f"{stored}@buyer.test", "--no-check", code=0)
        _recoup("cancel", ORDERS[n], "--account", name, *CANCEL, "--comment", stored, code=0)
    _recoup("accounts", "add", "loc", "--email", "l@buyer.test", "--locale", "[/x]", "--no-check", code=0)
    store = Store.open(Settings().resolved_database_url)
    try:
        for case in store.cases.list_cases()[:2]:  # portal text as outcome note and event detail
            store.cases.transition(
                case.id,
                CaseState.NEEDS_HUMAN,
                expected_from=CaseState.QUEUED,
                detail={"portal": case.message},
                outcome_note=case.message,
            )
    finally:
        store.close()
    with sqlite3.connect(folder / "recoup.db") as con:  # the last case: an error note only
        con.execute("UPDATE cases SET last_error = message WHERE order_id = ?", (ORDERS[2],))
    return folder


def test_accounts_list_shows_emails_and_locale_literally(data: Path) -> None:
    out = _recoup("accounts", "list", code=0).stdout
    _assert_literal(out, *(f"{shown}@buyer.test" for shown in HOSTILE.values()), "│ [/x] ")


def test_cases_list_and_status_show_notes_and_errors_literally(data: Path) -> None:
    for args in (
        ("cases", "list"),
        ("status", "--account", "acc0"),
        ("status", "--account", "acc1"),
        ("status", ORDERS[2]),
    ):
        out = _recoup(*args, code=0).stdout
        expected = {"acc0": [MARKUP], "acc1": [UNICODE], ORDERS[2]: [CONTROL_SHOWN]}.get(args[-1])
        _assert_literal(out, *(expected or HOSTILE.values()))


def test_cases_show_prints_comment_outcome_detail_and_folder_literally(data: Path) -> None:
    for case_id, shown in enumerate(HOSTILE.values(), start=1):
        out = _recoup("cases", "show", str(case_id), code=0).stdout
        _assert_literal(out, f"message: {shown}", f"evidence file(s) in {data}/evidence/case-{case_id}")
        if case_id <= 2:
            _assert_literal(out, f"outcome: {shown}", f"portal={shown}")


def test_the_outcome_of_a_command_drops_the_note_of_the_state_it_left(data: Path) -> None:
    for case_id, shown in ((1, MARKUP), (2, UNICODE)):  # needs_human → retry (queued) → the report
        out = _recoup("cases", "retry", str(case_id), "--queue", code=0).stdout
        _assert_literal(out, "→ queued")  # the hostile note explained needs_human: not shown now
        assert shown not in out


def test_error_messages_show_names_and_evidence_files_literally(data: Path, tmp_path: Path) -> None:
    for stored, shown in HOSTILE.items():
        for args in (("cases", "list", "--account", stored), ("accounts", "login", stored)):
            result = _recoup(*args, code=2)
            assert result.stdout == ""
            _assert_literal(result.stderr, "error: no account named ")
            assert repr(stored)[1:-1] in result.stderr  # the message quotes the name with repr()
        missing = tmp_path / f"photo {stored}.png"
        result = _recoup(
            "refund",
            ORDERS[0],
            "--account",
            "acc0",
            "--reason",
            "not_received",
            "--amount",
            "1",
            "--message",
            "m",
            "--evidence",
            str(missing),
            "--queue",
            code=2,
        )
        _assert_literal(result.stderr, str(tmp_path / f"photo {shown}.png"))  # (Path folds `//`)
        error = json.loads(_recoup(*args, "--json", code=2).stdout)  # JSON keeps the exact text
        assert repr(stored)[1:-1] in error["message"]


def test_evidence_prints_manifest_file_names_literally(data: Path) -> None:
    folder = data / "evidence" / "case-1"
    folder.mkdir(parents=True)
    entries = [
        {
            "path": f"shot {stored}.png",
            "kind": "screenshot",
            "step": "s",
            "captured_at": "2026-01-01T00:00:00+00:00",
            "sha256": "0" * 64,
            "size": 1,
        }
        for stored in HOSTILE
    ]
    (folder / "manifest.json").write_text(json.dumps(entries), encoding="utf-8")
    out = _recoup("evidence", "1", code=0).stdout
    _assert_literal(
        out, f"Case 1 evidence: {folder}", *(f"missing: shot {shown}.png:" for shown in HOSTILE.values())
    )


def test_export_path_is_printed_literally(data: Path, tmp_path: Path) -> None:
    target = tmp_path / "[bold]export [link=https:x]here[:smile:].json"
    result = _recoup("cases", "export", "-o", str(target), code=0)
    _assert_literal(result.stderr, f"3 case(s) written to {target}")
    assert json.loads(target.read_text(encoding="utf-8"))[0]["message"] == MARKUP


def test_demo_summary_prints_notes_literally(data: Path) -> None:
    from bot.demo import _summary

    buffer = io.StringIO()
    console = Console(file=buffer, width=1000, soft_wrap=True)
    store = Store.open(Settings().resolved_database_url)
    try:
        _summary(console, store, Settings())
    finally:
        store.close()
    _assert_literal(buffer.getvalue(), *HOSTILE.values())


def test_cases_show_wraps_a_long_detail_instead_of_cutting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECOUP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "100")
    _recoup("accounts", "add", "ann", "--email", "ann@buyer.test", "--no-check", code=0)
    _recoup("cancel", ORDERS[0], "--account", "ann", *CANCEL, code=0)
    portal_text = " ".join(f"word{n}" for n in range(40)) + " THE-END"
    with Store.open(Settings().resolved_database_url) as store:
        case = store.cases.list_cases()[0]
        store.cases.transition(case.id, CaseState.NEEDS_HUMAN, expected_from=CaseState.QUEUED,
                               detail={"portal": portal_text})  # fmt: skip
    out = _recoup("cases", "show", str(case.id), code=0).stdout
    assert "THE-END" in out and "word39" in out
